"""The example service's Python function: greets whoever the event names."""

import json
import os


def hello(event, context):
    # A direct invoke passes the event as given; an HTTP call passes an API Gateway v2 event.
    path_params = event.get("pathParameters") or {}
    body = event.get("body")
    payload = json.loads(body) if isinstance(body, str) and body.startswith("{") else {}
    name = (
        path_params.get("name")
        or payload.get("name")
        or event.get("name")
        or os.environ.get("DEFAULT_NAME", "world")
    )
    greeting = os.environ.get("GREETING", "Hello")
    print(f"greeting {name} on stage {os.environ.get('STAGE')}")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(
            {
                "message": f"{greeting}, {name}!",
                "stage": os.environ.get("STAGE"),
                "function": context.function_name,
            }
        ),
    }
