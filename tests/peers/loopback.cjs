// Preloaded (`node --require`) by the fake Google Cloud in front of the npm Functions
// Framework's own entry (`build/src/main.js`). The framework has no host option and calls
// `server.listen(port, callback)`, which binds every interface; this pins a listen call that
// names only a port to 127.0.0.1, so the tests open nothing beyond loopback. Everything else
// (option parsing, loading the function, the Express server) is the framework's own code.
'use strict';
const net = require('net');

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const port = args[0];
  const portOnly = typeof port === 'number' || (typeof port === 'string' && /^\d+$/.test(port));
  if (portOnly && (args.length === 1 || typeof args[1] === 'function')) {
    args.splice(1, 0, '127.0.0.1');
  }
  return listen.apply(this, args);
};
