'use strict';

// The example service's Node.js function: reports the time and who asked.
exports.handler = async (event, context) => {
  const now = new Date().toISOString();
  console.log(`world called at ${now}`);
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      message: `It is ${now} in Node.js ${process.version}`,
      label: process.env.SERVICE_LABEL,
      function: context.functionName,
      requestId: context.awsRequestId,
    }),
  };
};
