"""The JSON documents of API.md, shared by the API, the console's forms and the JSON export."""
