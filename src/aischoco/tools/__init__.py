"""Tools the character may use while answering: built-in read-only ones and MCP servers' tools."""
