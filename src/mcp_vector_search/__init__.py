"""mcp-vector-search: fast, local, crash-safe semantic code search for people and agents."""

__version__ = "0.1.0"
