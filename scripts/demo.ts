/**
 * `npm start`: makes small sample backups in config/samples/ (with the system tar
 * and sha256sum) and runs the example drills of config/restore-drill.yaml on the
 * embedded database. One sample is damaged on purpose, so one drill fails.
 */
import { spawnSync, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const samples = path.join(root, 'config', 'samples');

function makeTree(dir: string, files: number, seed: string): void {
  for (let i = 0; i < files; i++) {
    const sub = path.join(dir, i % 3 === 0 ? 'docs' : i % 3 === 1 ? 'mail' : 'projects/alpha');
    mkdirSync(sub, { recursive: true });
    const size = 200 + ((i * 7919) % 40_000);
    writeFileSync(
      path.join(sub, `${seed}-file-${String(i).padStart(3, '0')}.dat`),
      randomBytes(size),
    );
  }
}

function sha256sums(dir: string): string {
  const files = execFileSync(
    'find',
    ['.', '-type', 'f', '!', '-name', 'SHA256SUMS', '-printf', '%P\\n'],
    { cwd: dir, encoding: 'utf8' },
  )
    .split('\n')
    .filter(Boolean)
    .sort();
  return execFileSync('sha256sum', ['--', ...files], { cwd: dir, encoding: 'utf8' });
}

function makeTarSet(targetDir: string, name: string, damage: boolean): void {
  const staging = path.join(samples, '.staging', name);
  rmSync(staging, { recursive: true, force: true });
  makeTree(staging, 24, name);
  writeFileSync(path.join(staging, 'SHA256SUMS'), sha256sums(staging));
  if (damage) {
    // One flipped byte after the manifest was written: the drill must name this file.
    const victim = path.join(staging, 'docs', `${name}-file-003.dat`);
    const bytes = readFileSync(victim);
    bytes[17] = (bytes[17] ?? 0) ^ 0xff;
    writeFileSync(victim, bytes);
  }
  mkdirSync(targetDir, { recursive: true });
  execFileSync('tar', ['-czf', path.join(targetDir, `${name}.tar.gz`), '-C', staging, '.']);
}

function makeSamples(): void {
  rmSync(samples, { recursive: true, force: true });
  makeTarSet(path.join(samples, 'fileserver'), '2026-11-25', false);
  makeTarSet(path.join(samples, 'fileserver'), '2026-11-26', false);
  makeTarSet(path.join(samples, 'damaged'), '2026-11-26', true);
  const uploads = path.join(samples, 'uploads', 'week-48');
  makeTree(uploads, 30, 'upload');
  writeFileSync(`${uploads}.sha256`, sha256sums(uploads));
  rmSync(path.join(samples, '.staging'), { recursive: true, force: true });
}

makeSamples();
process.stdout.write(
  `sample backups written to ${path.relative(process.cwd(), samples) || samples}\n\n`,
);
const cli = path.join(root, 'dist', 'bin', 'restore-drill.js');
const configFile = path.join(root, 'config', 'restore-drill.yaml');

function runDrills(drills: string[]): number {
  const args = [
    cli,
    'run',
    '--config',
    configFile,
    ...drills.flatMap((drill) => ['--drill', drill]),
  ];
  // The demo is read by people, piped (`npm start | cat`, CI logs) or not: short human log lines either way.
  const env = {
    ...process.env,
    RESTORE_DRILL_LOG_FORMAT: process.env.RESTORE_DRILL_LOG_FORMAT ?? 'pretty',
  };
  return spawnSync(process.execPath, args, { stdio: 'inherit', env }).status ?? 1;
}

const healthy = runDrills(['fileserver-nightly', 'uploads-weekly']);
const damaged = runDrills(['fileserver-damaged']);
process.stdout.write('\n');
if (healthy === 0 && damaged === 1) {
  process.stdout.write(
    'As intended: the healthy backups passed, and fileserver-damaged failed naming the file whose byte was flipped.\n',
  );
  // npm runs scripts in the package folder; the user's shell is where they typed `npm start` (INIT_CWD).
  const userDir = process.env.INIT_CWD ?? process.cwd();
  const here = (file: string) => path.relative(userDir, file) || '.';
  process.stdout.write(`Evidence: node ${here(cli)} history --config ${here(configFile)}\n`);
} else {
  process.stdout.write(
    `Unexpected: healthy drills exited ${healthy} (want 0), the damaged drill exited ${damaged} (want 1).\n`,
  );
  process.exitCode = 1;
}
