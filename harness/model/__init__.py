"""The typed, versioned results model: what a run measured, as stored in results/*.json."""
