"""Storm replay: a scenario (config/scenarios/*.yaml) driven through the real HTTP API."""
