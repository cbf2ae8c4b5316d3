"""The demo's config files as TOML templates: data, read with importlib.resources and filled
by `collector.demo.configs.fill` (`${name}` placeholders, every one given, none extra)."""
