"""The public protocol's shapes and formats (docs/protocol.md), shared by the engine and the web side; pure."""
