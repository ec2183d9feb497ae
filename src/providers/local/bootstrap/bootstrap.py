# stratus local runtime: runs one AWS-style Python handler once.
# Reads the event (JSON) on stdin, calls handler(event, context), and writes
# {"ok": result} or {"error": {"type", "message", "stack"}} to the file named by
# _STRATUS_RESULT. What the handler prints goes to stdout/stderr, which stratus logs.
import importlib.util
import json
import os
import sys
import time
import traceback

_env = os.environ
_HANDLER = _env.pop("_STRATUS_HANDLER", "")
_RESULT = _env.pop("_STRATUS_RESULT", "")
_REQUEST_ID = _env.pop("_STRATUS_REQUEST_ID", "")
_DEADLINE_MS = int(_env.pop("_STRATUS_DEADLINE_MS", "0") or "0")
_ROOT = os.getcwd()


class ImportModuleError(Exception):
    """The handler's file could not be found or has no such function."""


class ResultNotSerializable(Exception):
    """The handler returned something json.dumps cannot encode."""


class Context:
    """The AWS Lambda context object, as far as it makes sense on this machine."""

    def __init__(self):
        self.function_name = _env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = _env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(_env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "0") or "0")
        self.aws_request_id = _REQUEST_ID
        self.invoked_function_arn = "arn:aws:lambda:local:000000000000:function:" + self.function_name
        self.log_group_name = _env.get("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/" + self.function_name)
        self.log_stream_name = "local/" + _REQUEST_ID
        self.identity = None
        self.client_context = None

    def get_remaining_time_in_millis(self):
        return max(0, _DEADLINE_MS - int(time.time() * 1000))


def _write(document):
    temp = _RESULT + ".tmp"
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(document)
    os.replace(temp, _RESULT)


def _stack(error):
    frames = []
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename.startswith("<"):
            continue  # this bootstrap (-c) and importlib internals
        name = frame.filename
        if name.startswith(_ROOT + os.sep):
            name = name[len(_ROOT) + 1:]
        line = 'File "%s", line %s, in %s' % (name, frame.lineno, frame.name)
        if frame.line:
            line += ": " + frame.line.strip()
        frames.append(line)
    return frames


def _load():
    module_path, _, function_name = _HANDLER.rpartition(".")
    if not module_path or not function_name:
        raise ImportModuleError("handler %r is not of the form file.function" % _HANDLER)
    file_path = os.path.join(_ROOT, module_path + ".py")
    if not os.path.isfile(file_path):
        package_init = os.path.join(_ROOT, module_path, "__init__.py")
        if not os.path.isfile(package_init):
            raise ImportModuleError(
                "cannot find %s.py in %s (handler %s)" % (module_path, _ROOT, _HANDLER)
            )
        file_path = package_init
    sys.path.insert(0, _ROOT)
    module_name = module_path.replace("/", ".")
    spec = importlib.util.spec_from_file_location(module_name, file_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ImportModuleError(
            "%s.py has no function %r (handler %s)" % (module_path, function_name, _HANDLER)
        )
    return function


def _main():
    try:
        text = sys.stdin.read()
        event = json.loads(text) if text.strip() else {}
        function = _load()
        result = function(event, Context())
        try:
            encoded = json.dumps({"ok": result})
        except (TypeError, ValueError) as error:
            raise ResultNotSerializable(
                "the handler returned a value that is not JSON-serializable: %s" % error
            ) from None
    except BaseException as error:  # noqa: BLE001 - everything the handler raises is reported
        if isinstance(error, SystemExit) and not error.code:
            encoded = json.dumps({"ok": None})
        else:
            encoded = json.dumps(
                {
                    "error": {
                        "type": type(error).__name__,
                        "message": str(error),
                        "stack": _stack(error),
                    }
                }
            )
    _write(encoded)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


_main()
