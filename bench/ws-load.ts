// WebSocket load for the TCP bench, run as its own (pinned) process: `node dist/bench/ws-load.js
// server PORT` echoes every message; `node dist/bench/ws-load.js client PORT HOST CONNECTIONS
// DEPTH SIZE SECONDS` keeps DEPTH messages of SIZE bytes in flight on each connection for SECONDS
// and prints {"messages", "seconds", "per_s"} (echoes received).
import WebSocket, { WebSocketServer } from 'ws';

function server(port: number): void {
  const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => undefined);
  });
  wss.on('listening', () => process.stdout.write(`{"listening": ${port}}\n`));
}

async function client(port: number, host: string, connections: number, depth: number, size: number, seconds: number): Promise<void> {
  const payload = Buffer.alloc(size, 0x6d);
  let received = 0;
  let stopping = false;
  const sockets = await Promise.all(Array.from({ length: connections }, () => new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { host }, perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  })));
  const t0 = performance.now();
  for (const ws of sockets) {
    ws.on('message', () => {
      received++;
      if (!stopping) ws.send(payload);
    });
    for (let i = 0; i < depth; i++) ws.send(payload);
  }
  await new Promise((r) => setTimeout(r, seconds * 1000));
  stopping = true;
  const took = (performance.now() - t0) / 1000;
  const n = received;
  for (const ws of sockets) ws.terminate();
  process.stdout.write(`${JSON.stringify({ messages: n, seconds: Number(took.toFixed(3)), per_s: Number((n / took).toFixed(1)) })}\n`);
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'server') server(Number(args[0]));
else if (mode === 'client') {
  const [port, host, connections, depth, size, seconds] = args;
  client(Number(port), host ?? 'ws', Number(connections), Number(depth), Number(size), Number(seconds)).catch((err: Error) => {
    process.stdout.write(`${JSON.stringify({ error: err.message })}\n`);
    process.exit(1);
  });
} else {
  process.stderr.write('usage: ws-load server PORT | client PORT HOST CONNECTIONS DEPTH SIZE SECONDS\n');
  process.exit(2);
}
