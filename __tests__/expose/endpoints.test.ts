// Which forwards gate the run, and what a background forward that is not answering yet leaves
// behind: its output, and a notice rather than a failure. Fakes only: the supervisor's status is
// written by hand, @actions/core is mocked.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import * as core from '@actions/core'
import {
  backgroundForwardNotices,
  DEFAULT_PORTS,
  exposedEndpoints,
  forwardPlan,
  GATING_FORWARDS,
  inClusterEndpoints,
} from '../../src/expose/endpoints.ts'
import { KUBE_PROMETHEUS_STACK } from '../../src/prometheus/kube-prometheus.ts'
import { stateFiles, type ForwardStatus, type StartedForwards, type SupervisorStatus } from '../../src/expose/supervisor.ts'
import { parseInputs } from '../../src/inputs.ts'
import type { Inputs } from '../../src/types.ts'

vi.mock('@actions/core', async (importOriginal) => ({
  ...(await importOriginal<typeof import('@actions/core')>()),
  notice: vi.fn(),
  setFailed: vi.fn(),
  saveState: vi.fn(),
}))

const inputs = (expose: string): Inputs =>
  parseInputs(
    (name) => (name === 'expose' ? expose : ''),
    () => undefined,
  )

let dir: string
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'expose-test-'))
  vi.mocked(core.notice).mockClear()
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const NAMES = ['prometheus', 'grafana', 'alertmanager', 'milvus', 'milvus-metrics']
const PORTS: Record<string, number> = { prometheus: 40123, grafana: 40124, alertmanager: 40125, milvus: 40126, 'milvus-metrics': 40127 }

function started(): StartedForwards {
  return {
    supervisorPid: 999_999_999, // no such process
    forwards: NAMES.map((name) => ({
      name,
      localPort: PORTS[name]!,
      address: `127.0.0.1:${PORTS[name]}`,
      url: `http://127.0.0.1:${PORTS[name]}`,
    })),
    stateDir: dir,
    logFile: stateFiles(dir).log,
    statusFile: stateFiles(dir).status,
  }
}

function status(overrides: Record<string, Partial<ForwardStatus>>): SupervisorStatus {
  const resource: Record<string, string> = { grafana: 'svc/grafana', alertmanager: 'svc/alertmanager-main' }
  return {
    pid: 4242,
    updatedAt: '2026-01-01T00:00:00.000Z',
    forwards: NAMES.map((name) => ({
      name,
      namespace: name.startsWith('milvus') ? 'milvus' : 'monitoring',
      resource: resource[name] ?? (name.startsWith('milvus') ? 'svc/my-release-milvus' : 'svc/prometheus-k8s'),
      remotePort: 1,
      localPort: PORTS[name]!,
      state: 'ready',
      restarts: 0,
      ...overrides[name],
    })),
  }
}

const GRAFANA_DOWN: Partial<ForwardStatus> = {
  state: 'backoff',
  restarts: 4,
  lastRestart: {
    reason: 'exited with code 1: error: unable to forward port because pod is not running. Current status=Pending',
    at: '2026-01-01T00:00:00.000Z',
  },
}

describe('forwardPlan', () => {
  it('expose: port-forward starts all five, waits for Prometheus and Milvus only', () => {
    const plan = forwardPlan(inputs('port-forward'), 'my-release-milvus', DEFAULT_PORTS, KUBE_PROMETHEUS_STACK)
    expect(plan.forwards.map((f) => [f.name, f.resource, f.remotePort, f.httpPath])).toEqual([
      ['prometheus', 'svc/prometheus-k8s', 9090, '/-/ready'],
      ['grafana', 'svc/grafana', 3000, '/api/health'],
      ['alertmanager', 'svc/alertmanager-main', 9093, '/-/ready'],
      ['milvus', 'svc/my-release-milvus', 19530, undefined], // gRPC: TCP connect only
      ['milvus-metrics', 'svc/my-release-milvus', 9091, '/healthz'],
    ])
    expect(plan.waitFor).toEqual(['prometheus', 'milvus', 'milvus-metrics'])
    expect(GATING_FORWARDS).not.toContain('grafana')
    expect(GATING_FORWARDS).not.toContain('alertmanager')
  })

  it('expose: none starts no forward (the target wait goes through the API server)', () => {
    const plan = forwardPlan(inputs('none'), 'my-release-milvus', DEFAULT_PORTS, KUBE_PROMETHEUS_STACK)
    expect(plan.forwards).toEqual([])
    expect(plan.waitFor).toEqual([])
  })

  it('Milvus ports moved by values are forwarded as the Service has them', () => {
    const plan = forwardPlan(inputs('port-forward'), 'mv', { grpc: 19531, metrics: 9092 }, KUBE_PROMETHEUS_STACK)
    expect(plan.forwards.filter((f) => f.name.startsWith('milvus')).map((f) => [f.name, f.resource, f.remotePort])).toEqual([
      ['milvus', 'svc/mv', 19531],
      ['milvus-metrics', 'svc/mv', 9092],
    ])
  })
})

describe('backgroundForwardNotices', () => {
  it('names a Grafana that is not answering, with its URL, what to check and the last reason', () => {
    expect(backgroundForwardNotices(started(), status({ grafana: GRAFANA_DOWN }))).toEqual([
      'Grafana is not answering yet at http://127.0.0.1:40124 (svc/grafana in monitoring has no ready pod?); the supervisor keeps retrying. ' +
        `Last restart: ${GRAFANA_DOWN.lastRestart!.reason}. Its log: ${stateFiles(dir).log}`,
    ])
  })

  it('says nothing about ready forwards, nor about the gating ones (the wait covered them)', () => {
    expect(backgroundForwardNotices(started(), status({}))).toEqual([])
    expect(backgroundForwardNotices(started(), status({ prometheus: { state: 'failing' }, milvus: { state: 'starting' } }))).toEqual([])
  })

  it('uses the last failed probe when nothing was restarted yet, and copes with no status at all', () => {
    const notices = backgroundForwardNotices(
      started(),
      status({
        alertmanager: {
          state: 'starting',
          lastProbe: { ok: false, at: '2026-01-01T00:00:00.000Z', detail: 'GET /-/ready: no response within 2000 ms' },
        },
      }),
    )
    expect(notices).toEqual([
      expect.stringMatching(
        /^Alertmanager is not answering yet at http:\/\/127\.0\.0\.1:40125 \(svc\/alertmanager-main in monitoring has no ready pod\?\); .* Last probe: GET \/-\/ready: no response within 2000 ms\./,
      ),
    ])
    expect(backgroundForwardNotices(started(), undefined).map((n) => n.split(' is not')[0])).toEqual(['Grafana', 'Alertmanager'])
  })
})

describe('exposedEndpoints', () => {
  it('a Grafana not answering at the end of the step: its output is set, a notice names it, nothing fails', async () => {
    writeFileSync(stateFiles(dir).status, JSON.stringify(status({ grafana: GRAFANA_DOWN })))
    const endpoints = exposedEndpoints(
      started(),
      inClusterEndpoints('milvus', 'my-release', undefined, KUBE_PROMETHEUS_STACK),
      KUBE_PROMETHEUS_STACK,
    )
    expect(endpoints).toEqual({
      prometheusUrl: 'http://127.0.0.1:40123',
      grafanaUrl: 'http://127.0.0.1:40124',
      alertmanagerUrl: 'http://127.0.0.1:40125',
      milvusEndpoint: '127.0.0.1:40126',
      milvusMetricsUrl: 'http://127.0.0.1:40127/metrics',
    })
    expect(vi.mocked(core.notice).mock.calls).toEqual([
      [expect.stringMatching(/^Grafana is not answering yet at http:\/\/127\.0\.0\.1:40124 /)],
    ])
    expect(core.setFailed).not.toHaveBeenCalled()
  })

  it('expose none: the in-cluster endpoints', () => {
    expect(
      exposedEndpoints(undefined, inClusterEndpoints('milvus', 'my-release', undefined, KUBE_PROMETHEUS_STACK), KUBE_PROMETHEUS_STACK),
    ).toEqual(inClusterEndpoints('milvus', 'my-release', undefined, KUBE_PROMETHEUS_STACK))
  })

  it('all answering: no notice', async () => {
    writeFileSync(stateFiles(dir).status, JSON.stringify(status({})))
    exposedEndpoints(started(), inClusterEndpoints('milvus', 'my-release', undefined, KUBE_PROMETHEUS_STACK), KUBE_PROMETHEUS_STACK)
    expect(core.notice).not.toHaveBeenCalled()
  })
})
