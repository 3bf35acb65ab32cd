/* eslint-disable @typescript-eslint/no-explicit-any -- parsed YAML walked freely in assertions */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { spoolDirFor } from '../../src/evidence/spool.js';

const deploy = path.resolve(import.meta.dirname, '../../deploy');

async function manifest(file: string): Promise<Record<string, any>> {
  const [doc] = parseAllDocuments(await readFile(path.join(deploy, file), 'utf8'));
  return doc?.toJS() as Record<string, any>;
}

/** `Key=value` lines of a systemd unit. */
async function unit(file: string): Promise<Map<string, string>> {
  const text = await readFile(path.join(deploy, 'systemd', file), 'utf8');
  return new Map(
    text
      .split('\n')
      .filter((line) => /^[A-Z][A-Za-z]+=/.test(line))
      .map(
        (line) =>
          [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as [string, string],
      ),
  );
}

/** The ConfigMap's config, as the pods load it from /etc/restore-drill. */
async function configMapConfig() {
  const configMap = await manifest('kubernetes/configmap.yaml');
  return parseConfig(
    configMap.data['restore-drill.yaml'],
    'configmap.yaml',
    { RD_DB_PASSWORD: 'x' },
    '/etc/restore-drill',
  );
}

describe('deploy/ examples', () => {
  it('ship a config in the ConfigMap that restore-drill accepts, listening where probes can reach it', async () => {
    const loaded = await configMapConfig();
    expect(loaded.config.database.url).toMatch(/^postgres:\/\//);
    expect(loaded.config.daemon.listen).toEqual({ host: '0.0.0.0', port: 9464 });
  });

  it('give the daemon Deployment more grace than the drain timeout, and probe /healthz on the configured port', async () => {
    const { config } = await configMapConfig();
    const deployment = await manifest('kubernetes/daemon-deployment.yaml');
    const pod = deployment.spec.template.spec;
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(config.daemon.drainTimeout);
    const container = pod.containers[0];
    expect(container.args).toEqual(['daemon']);
    expect(container.ports[0].containerPort).toBe(config.daemon.listen?.port);
    expect(container.readinessProbe.httpGet.path).toBe('/healthz');
    expect(deployment.spec.template.metadata.annotations['prometheus.io/port']).toBe(
      String(config.daemon.listen?.port),
    );
  });

  it('run one-shot drills from the CronJob without overlap or retries', async () => {
    const cronJob = await manifest('kubernetes/cronjob.yaml');
    expect(cronJob.spec.concurrencyPolicy).toBe('Forbid');
    expect(cronJob.spec.jobTemplate.spec.backoffLimit).toBe(0);
    expect(cronJob.spec.jobTemplate.spec.template.spec.containers[0].args).toEqual(['run']);
  });

  it('give the systemd daemon unit a reload by SIGHUP and a stop longer than the default drain timeout', async () => {
    const daemon = await unit('restore-drill.service');
    expect(daemon.get('ExecStart')).toBe('/usr/bin/restore-drill daemon');
    expect(daemon.get('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(daemon.get('KillMode')).toBe('mixed');
    expect(Number(daemon.get('TimeoutStopSec'))).toBeGreaterThan(60);
    const oneShot = await unit('restore-drill-run.service');
    expect(oneShot.get('Type')).toBe('oneshot');
    expect(oneShot.get('ExecStart')).toBe('/usr/bin/restore-drill run');
    const timer = await unit('restore-drill-run.timer');
    expect(timer.get('Persistent')).toBe('true');
  });

  it('mount the spool of the CronJob and the daemon on the PersistentVolumeClaim, at the ConfigMap spool.path', async () => {
    const loaded = await configMapConfig();
    const spool = spoolDirFor(loaded.config, loaded.dir);
    expect(spool).toBe('/var/lib/restore-drill/spool');
    const claim = await manifest('kubernetes/spool-pvc.yaml');
    expect(claim.kind).toBe('PersistentVolumeClaim');
    // The daemon's replicas share it.
    expect(claim.spec.accessModes).toEqual(['ReadWriteMany']);
    const cronJob = await manifest('kubernetes/cronjob.yaml');
    const deployment = await manifest('kubernetes/daemon-deployment.yaml');
    for (const pod of [
      cronJob.spec.jobTemplate.spec.template.spec,
      deployment.spec.template.spec,
    ]) {
      const mount = pod.containers[0].volumeMounts.find(
        (candidate: any) => candidate.mountPath === spool,
      );
      expect(mount?.readOnly).toBeUndefined();
      const volume = pod.volumes.find((candidate: any) => candidate.name === mount?.name);
      expect(volume).toEqual({
        name: mount.name,
        persistentVolumeClaim: { claimName: claim.metadata.name },
      });
    }
  });

  it('put the systemd spool in the StateDirectory, which the units may write', async () => {
    const { config, dir } = parseConfig(
      await readFile(path.join(deploy, 'systemd/restore-drill.yaml'), 'utf8'),
      '/etc/restore-drill/restore-drill.yaml',
      { RD_DB_PASSWORD: 'x' },
      '/etc/restore-drill',
    );
    const spool = spoolDirFor(config, dir);
    for (const file of ['restore-drill.service', 'restore-drill-run.service']) {
      const service = await unit(file);
      const stateDirectory = `/var/lib/${service.get('StateDirectory')}`;
      expect(stateDirectory, file).toBe('/var/lib/restore-drill');
      expect(spool.startsWith(`${stateDirectory}/`), file).toBe(true);
      expect(service.get('ReadWritePaths')?.split(' '), file).toContain(stateDirectory);
      expect(service.get('ProtectSystem'), file).toBe('strict');
    }
    expect(config.database.url).toMatch(/^postgres:\/\//);
  });
});
