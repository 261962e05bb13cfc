"""Local emulator of Google Directory, Resource Manager, Cloud Asset, IAM Admin (gRPC)
and GitHub REST + GraphQL, for tests and the demo."""
