"""The HTTP API: the Starlette app and its middleware (connection limits, security), the request context, the
envelope every answer travels in, query parameters, the OpenAPI document, record exports, and the routes."""
