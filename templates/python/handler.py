import json
import os


def hello(event, context):
    """Answers an API-Gateway-v2-style event (or a plain JSON event) with a greeting."""
    params = event.get("queryStringParameters") or {}
    name = params.get("name") or event.get("name") or "world"
    greeting = os.environ.get("GREETING", "Hello")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"message": f"{greeting}, {name}!", "function": context.function_name}),
    }
