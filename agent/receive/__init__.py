"""Reading SMS off the modems: the receive loop, its supervisor, the GSM session adapter."""
