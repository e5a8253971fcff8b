"""The JSON API of API.md: thin routers over the services."""
