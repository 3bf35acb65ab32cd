// Runs s3rver in its own process, started by bench/s3-server.ts (as test/helpers/s3rver-child.mjs):
// s3rver's continuation tokens use DES, which OpenSSL 3 only offers with --openssl-legacy-provider
// (the parent passes it), and its event loop is then not the bench's.
import S3rver from 's3rver';

const directory = process.argv[2];
if (directory === undefined) throw new Error('usage: s3rver-child.js DIRECTORY');
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
const { port } = await server.run();
process.send?.({ port });

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await server.close().catch(() => {});
  process.exit(0);
}
process.on('message', (message) => {
  if (message === 'stop') void stop();
});
// The bench died: do not outlive it.
process.on('disconnect', () => void stop());
