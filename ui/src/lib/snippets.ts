// Setup snippets per framework, with the project's key and the server's address filled in.
export type Framework = 'flask' | 'django' | 'fastapi' | 'wsgi' | 'asgi' | 'decorator'
export const FRAMEWORKS: Framework[] = ['flask', 'django', 'fastapi', 'wsgi', 'asgi', 'decorator']
export const LABELS: Record<Framework, string> = { flask: 'Flask', django: 'Django', fastapi: 'FastAPI', wsgi: 'WSGI', asgi: 'ASGI', decorator: 'Decorator' }

const PIP: Record<Framework, string> = {
  flask: 'pystrument-flask', django: 'pystrument-django', fastapi: 'pystrument-fastapi',
  wsgi: 'pystrument-wsgi', asgi: 'pystrument-asgi', decorator: 'pystrument-core pystrument-sink-http',
}

export function snippet(fw: Framework, key: string, endpoint: string): string {
  const k = JSON.stringify(key)
  const e = JSON.stringify(endpoint)
  const cfg = `{"project_key": ${k}, "api_endpoint": ${e}}`
  const body: Record<Framework, string> = {
    flask: `from flask import Flask
from pystrument.adapters.flask import PerformanceMiddleware

app = Flask(__name__)
app.wsgi_app = PerformanceMiddleware(app.wsgi_app, ${cfg})`,
    django: `# settings.py
MIDDLEWARE = [
    "pystrument.adapters.django.PerformanceMiddleware",
    # ... your other middleware
]
PYSTRUMENT = {
    "project_key": ${k},
    "api_endpoint": ${e},
}`,
    fastapi: `from fastapi import FastAPI
from pystrument.adapters.fastapi import PerformanceMiddleware

app = FastAPI()
app.add_middleware(PerformanceMiddleware, config=${cfg})`,
    wsgi: `from pystrument.adapters.wsgi import PerformanceMiddleware

application = PerformanceMiddleware(application, ${cfg})`,
    asgi: `from pystrument.adapters.asgi import PerformanceMiddleware

app = PerformanceMiddleware(app, ${cfg})`,
    decorator: `from pystrument.core import configure, monitor_performance, PerformanceCollector

configure(project_key=${k}, api_endpoint=${e})

@monitor_performance
def import_orders(path): ...

with PerformanceCollector().collect("nightly-rollup"):
    ...`,
  }
  return `# pip install ${PIP[fw]}\n${body[fw]}\n`
}
