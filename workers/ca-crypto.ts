// Piscina task file for the mesh CA (keygen, CSR, signing); the logic lives in src/tls/ca/crypto-tasks.ts.
export { runCryptoTask as default } from '../src/tls/ca/crypto-tasks.js';
