"""What the pages (web) and the JSON API (api) share: the request's session, who is calling,
path types, and the exports and the report as HTTP answers."""
