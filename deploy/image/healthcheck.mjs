// The image's HEALTHCHECK: ready (GET /health/ready answers 200) on the decision port,
// over HTTPS when the listener has a certificate (which this check does not verify: it
// asks its own process on the loopback).
import { request as http } from 'node:http';
import { request as https } from 'node:https';

const tls = Boolean(process.env.TLS_CERT_FILE);
const req = (tls ? https : http)(
  { host: '127.0.0.1', port: Number(process.env.PORT || 8181), path: '/health/ready', timeout: 2_500, rejectUnauthorized: false },
  (res) => process.exit(res.statusCode === 200 ? 0 : 1),
);
req.on('error', () => process.exit(1));
req.on('timeout', () => req.destroy());
req.end();
