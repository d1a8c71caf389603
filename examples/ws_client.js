// ws_client.js: a WebSocket client for examples/ws_echo.lua, using npm's ws.
//   node examples/ws_client.js ws://127.0.0.1:8082/ [WS_MODULE_DIR]
// Sends a text message, a binary one, a 300 KiB one sent in fragments, and a
// ping; checks each echo; closes with 1000 and prints one JSON line of results.
const wsPath = process.argv[3] ? require('path').join(process.argv[3], 'ws') : 'ws';
const WebSocket = require(wsPath);
const ws = new WebSocket(process.argv[2]);
const big = 'x'.repeat(300 * 1024);
const got = [];
const results = { open: false, text: false, binary: false, big: false, pong: false, close: null };
const timer = setTimeout(() => { console.log(JSON.stringify(results)); process.exit(1); }, 8000);
ws.on('open', () => {
  results.open = true;
  ws.send('hello, wörld');
  ws.send(Buffer.from([0, 1, 2, 255]));
  ws.send(big, { fin: true }); // ws frames it whole; fragments go below
  ws.send('frag-', { fin: false });
  ws.send('ment', { fin: true });
  ws.ping('are you there');
});
ws.on('pong', (data) => { results.pong = data.toString() === 'are you there'; });
ws.on('message', (data, isBinary) => {
  got.push([data, isBinary]);
  if (got.length === 1) results.text = !isBinary && data.toString() === 'hello, wörld';
  if (got.length === 2) results.binary = isBinary && Buffer.compare(data, Buffer.from([0, 1, 2, 255])) === 0;
  if (got.length === 3) results.big = !isBinary && data.toString() === big;
  if (got.length === 4) {
    results.fragmented = !isBinary && data.toString() === 'frag-ment';
    ws.close(1000, 'done');
  }
});
ws.on('close', (code) => {
  results.close = code;
  clearTimeout(timer);
  console.log(JSON.stringify(results));
  process.exit(0);
});
ws.on('error', (err) => { results.error = String(err); });
