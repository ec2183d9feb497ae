'use strict';

// Answers an API-Gateway-v2-style event (or a plain JSON event) with a greeting.
exports.hello = async (event, context) => {
  const params = event.queryStringParameters || {};
  const name = params.name || event.name || 'world';
  const greeting = process.env.GREETING || 'Hello';
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message: `${greeting}, ${name}!`, function: context.functionName }),
  };
};
