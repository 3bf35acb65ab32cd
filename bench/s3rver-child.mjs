// Runs s3rver in its own process, forked by bench/s3-server.ts for the bench and the tests.
// Plain JavaScript, so both fork this one file from the checkout. Own process because s3rver's
// continuation tokens use DES, which OpenSSL 3 only offers with --openssl-legacy-provider (the
// parent passes it), and so its event loop is not the parent's.
import S3rver from 's3rver';

const directory = process.argv[2];
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
const { port } = await server.run();
process.send?.({ port });

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await server.close().catch(() => {});
  process.exit(0);
}
process.on('message', (message) => {
  if (message === 'stop') void stop();
});
// The parent died: do not outlive it.
process.on('disconnect', () => void stop());
