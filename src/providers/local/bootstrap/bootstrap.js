// stratus local runtime: runs one AWS-style Node.js handler once.
// Reads the event (JSON) on stdin, calls handler(event, context[, callback]) (CommonJS or ES
// module, async or callback style), and writes {"ok": result} or
// {"error": {"type", "message", "stack"}} to the file named by _STRATUS_RESULT.
'use strict';
const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');

const env = process.env;
const HANDLER = env._STRATUS_HANDLER || '';
const RESULT = env._STRATUS_RESULT || '';
const REQUEST_ID = env._STRATUS_REQUEST_ID || '';
const DEADLINE_MS = Number(env._STRATUS_DEADLINE_MS || '0');
for (const key of Object.keys(env)) {
  if (key.startsWith('_STRATUS_')) delete env[key];
}
const ROOT = process.cwd();
let finished = false;

function named(name, message) {
  const error = new Error(message);
  error.name = name;
  return error;
}

function stackOf(error) {
  if (!error || typeof error.stack !== 'string') return [];
  return error.stack
    .split('\n')
    .slice(1)
    .map((line) => line.trim())
    .filter((line) => line && !line.includes('[eval]') && !line.includes('node:internal'))
    .map((line) => line.split(ROOT + path.sep).join(''));
}

function finish(document) {
  if (finished) return;
  finished = true;
  fs.writeFileSync(RESULT + '.tmp', document);
  fs.renameSync(RESULT + '.tmp', RESULT);
  process.exit(0);
}

function fail(error) {
  const isError = error instanceof Error;
  finish(
    JSON.stringify({
      error: {
        type: isError ? error.name || 'Error' : typeof error,
        message: isError ? String(error.message) : String(error),
        stack: stackOf(error),
      },
    }),
  );
}

async function load() {
  const dot = HANDLER.lastIndexOf('.');
  if (dot <= 0 || dot === HANDLER.length - 1) {
    throw named('ImportModuleError', `handler ${JSON.stringify(HANDLER)} is not of the form file.function`);
  }
  const modulePath = HANDLER.slice(0, dot);
  const functionName = HANDLER.slice(dot + 1);
  const file = ['.js', '.mjs', '.cjs']
    .map((ext) => path.join(ROOT, modulePath + ext))
    .find((candidate) => fs.existsSync(candidate));
  if (!file) {
    throw named('ImportModuleError', `cannot find ${modulePath}.js, .mjs or .cjs in ${ROOT} (handler ${HANDLER})`);
  }
  let loaded;
  if (file.endsWith('.mjs')) {
    loaded = await import(pathToFileURL(file).href);
  } else {
    try {
      loaded = require(file);
    } catch (error) {
      if (error && error.code === 'ERR_REQUIRE_ESM') {
        loaded = await import(pathToFileURL(file).href);
      } else {
        throw error;
      }
    }
  }
  let handler = loaded[functionName];
  if (handler === undefined && loaded.default) handler = loaded.default[functionName];
  if (typeof handler !== 'function') {
    throw named('ImportModuleError', `${path.relative(ROOT, file)} does not export a function ${functionName} (handler ${HANDLER})`);
  }
  return handler;
}

function context() {
  const functionName = env.AWS_LAMBDA_FUNCTION_NAME || '';
  return {
    functionName,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION || '$LATEST',
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE || '0',
    awsRequestId: REQUEST_ID,
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME || `/aws/lambda/${functionName}`,
    logStreamName: `local/${REQUEST_ID}`,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, DEADLINE_MS - Date.now()),
  };
}

async function main() {
  const text = fs.readFileSync(0, 'utf8');
  const event = text.trim() ? JSON.parse(text) : {};
  const handler = await load();
  const result = await new Promise((resolve, reject) => {
    const callback = (error, value) => (error ? reject(error) : resolve(value));
    const returned = handler(event, context(), callback);
    if (returned && typeof returned.then === 'function') {
      returned.then(resolve, reject);
    } else if (handler.length < 3) {
      resolve(returned);
    }
  });
  let encoded;
  try {
    encoded = JSON.stringify({ ok: result === undefined ? null : result });
  } catch (error) {
    throw named('ResultNotSerializable', `the handler returned a value that is not JSON-serializable: ${error.message}`);
  }
  finish(encoded);
}

process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
main().catch(fail);
