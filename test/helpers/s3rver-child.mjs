// Runs s3rver in its own process, started by test/helpers/s3-server.ts.
// Own process because s3rver's continuation tokens use DES, which OpenSSL 3 only offers with
// --openssl-legacy-provider (the parent passes it), and so its event loop is not the test's.
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
// The test process died: do not outlive it.
process.on('disconnect', () => void stop());
