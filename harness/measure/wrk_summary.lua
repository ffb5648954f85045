-- wrk script rendered by harness/wrk.py: the @...@ placeholders become Lua literals.
-- It sets the request, and done() writes one JSON object with every count wrk keeps, because
-- wrk's text output hides zero error lines and rounds latencies.

local out_path = @OUT_PATH@
local body_template = @BODY_TEMPLATE@  -- nil unless the body contains {{unique}}
local nonce = @NONCE@

wrk.method = @METHOD@
wrk.path = @PATH@
wrk.body = @BODY@
for name, value in pairs(@HEADERS@) do
   wrk.headers[name] = value
end

-- setup() runs in the main Lua state once per thread; thread:set defines a global in that
-- thread's own state, so every thread knows its number.
local threads = 0
function setup(thread)
   threads = threads + 1
   thread:set("thread_id", threads)
end

-- Only a body with {{unique}} needs request(): without it wrk formats the request once.
if body_template then
   local counter = 0
   function request()
      counter = counter + 1
      local unique = nonce .. "-" .. thread_id .. "-" .. counter
      local body = body_template:gsub("{{unique}}", function() return unique end)
      return wrk.format(nil, nil, nil, body)
   end
end

local function number(x)
   if x == nil or x ~= x or x == math.huge or x == -math.huge then
      return "null"
   end
   return string.format("%.15g", x)
end

function done(summary, latency, requests)
   local e = summary.errors
   local lat = {}
   -- An empty histogram (no response within the timeout) has min > max: report nulls, not 0.
   local empty = latency.min > latency.max
   local fields = {
      {"min", latency.min}, {"mean", latency.mean}, {"stdev", latency.stdev},
      {"max", latency.max}, {"p50", latency:percentile(50)}, {"p75", latency:percentile(75)},
      {"p90", latency:percentile(90)}, {"p99", latency:percentile(99)},
      {"p99.9", latency:percentile(99.9)},
   }
   for _, f in ipairs(fields) do
      lat[#lat + 1] = string.format('"%s":%s', f[1], empty and "null" or number(f[2]))
   end
   local json = string.format(
      '{"requests":%s,"duration_us":%s,"bytes":%s,' ..
      '"errors":{"connect":%s,"read":%s,"write":%s,"status":%s,"timeout":%s},' ..
      '"latency_us":{%s}}\n',
      number(summary.requests), number(summary.duration), number(summary.bytes),
      number(e.connect), number(e.read), number(e.write), number(e.status), number(e.timeout),
      table.concat(lat, ","))
   local f = assert(io.open(out_path, "w"))
   f:write(json)
   f:close()
end
