"""What the SDK's sinks and the server agree on besides the record itself (record.py): the codes of the API's
envelope ``{"code", "msg", "data"}`` with the HTTP status each answers with (docs/api.md, "Codes"), and the names
of the Redis stream that the Redis sink writes and the server's workers consume (docs/deploy.md). One copy, read by
both sides, so that neither can drift from the other."""

from __future__ import annotations

# The envelope's codes.
SUCCESS = 0
SYSTEM_ERROR = 10000
PARAMETER_ERROR = 10001
AUTHENTICATION_ERROR = 10002
PERMISSION_ERROR = 10003
RATE_LIMIT_ERROR = 10004
DATABASE_ERROR = 10005
PROJECT_NOT_FOUND = 20001
PROJECT_NAME_EXISTS = 20002
INVALID_PROJECT_KEY = 20003
PERFORMANCE_DATA_INVALID = 20004
AI_SERVICE_UNAVAILABLE = 20005
ANALYSIS_IN_PROGRESS = 20006

# The HTTP status each code answers with unless the server says otherwise.
DEFAULT_STATUS = {
    SYSTEM_ERROR: 500,
    PARAMETER_ERROR: 400,
    AUTHENTICATION_ERROR: 401,
    PERMISSION_ERROR: 403,
    RATE_LIMIT_ERROR: 429,
    DATABASE_ERROR: 503,
    PROJECT_NOT_FOUND: 404,
    PROJECT_NAME_EXISTS: 409,
    INVALID_PROJECT_KEY: 401,
    PERFORMANCE_DATA_INVALID: 422,
    AI_SERVICE_UNAVAILABLE: 503,
    ANALYSIS_IN_PROGRESS: 409,
}

# The Redis stream: its default key, and the fields of each entry (the record's JSON and its id).
REDIS_STREAM = "pystrument:records"
STREAM_RECORD_FIELD = "record"
STREAM_ID_FIELD = "record_id"
