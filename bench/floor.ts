// The floor for `make bench`: a bare node:http server that reads and parses the same JSON
// bodies the decision APIs get and answers a constant. What no decision API on this runtime
// can beat on this machine; Portcullis's per-core throughput is reported as a share of it.
// Usage: node --import tsx bench/floor.ts [PORT]; it listens on PORT (default: a port of its
// choosing) and prints `floor listening on <port>`. A request without a body gets the constant too.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const answer = Buffer.from('{"result":true}');
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    try {
      if (chunks.length > 0) JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"code":"invalid_json"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length }).end(answer);
  });
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => console.log(`floor listening on ${(server.address() as AddressInfo).port}`));
