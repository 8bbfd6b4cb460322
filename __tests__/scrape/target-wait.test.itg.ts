import { KUBE_PROMETHEUS_STACK } from '../../src/prometheus/kube-prometheus.ts'
import { prometheusRequest } from '../../src/prometheus/stack.ts'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ApiError, Kube, type ServiceRef } from '../../src/cluster/kube.ts'
import {
  DEFAULT_PACING,
  TargetWaitAborted,
  confirmUp,
  interpretTargets,
  needsScrapePools,
  nextPollDelay,
  parseDuration,
  queryPath,
  scrapePoolFor,
  serviceProxyRequest,
  waitForTargetsOnReplicas,
  targetsPath,
  unreachableVerdict,
  upQueries,
  waitForTargets,
  type TargetVerdict,
  type VerdictState,
} from '../../src/scrape/target-wait.ts'
import type { TargetState } from '../../src/types.ts'
import { renderMetrics, startMilvusStandin, type MilvusStandin } from '../../local-cluster/milvus-standin.ts'
import { ensurePrometheus, freePort, prometheusApi, startPrometheus, stopAllPrometheus } from '../support/prometheus-process.ts'
import { FAKE_TOKEN, startFakeApiServer } from '../support/fake-apiserver.ts'

const POOL = 'serviceMonitor/milvus/my-release-milvus-standalone/0'
const CTX = { scrapePool: POOL, namespace: 'milvus' }
const SCRAPED_AT = '2026-11-24T15:38:08.814428996Z'
const SCRAPED_MS = Date.parse(SCRAPED_AT)

// ---------------------------------------------------------------------------------------------
// Fixtures shaped like Prometheus 3.12's answers for a ServiceMonitor-generated scrape pool.

function discovered(ip: string, port = 9091, portName = 'metrics'): Record<string, string> {
  return {
    __address__: `${ip}:${port}`,
    __meta_kubernetes_endpointslice_address_target_kind: 'Pod',
    __meta_kubernetes_endpointslice_address_target_name: 'my-release-milvus-standalone-6d5f7b9c8-x2x4q',
    __meta_kubernetes_endpointslice_endpoint_conditions_ready: 'true',
    __meta_kubernetes_endpointslice_name: 'my-release-milvus-7kq9n',
    __meta_kubernetes_endpointslice_port: String(port),
    __meta_kubernetes_endpointslice_port_name: portName,
    __meta_kubernetes_endpointslice_port_protocol: 'TCP',
    __meta_kubernetes_namespace: 'milvus',
    __meta_kubernetes_pod_ip: ip,
    __meta_kubernetes_pod_name: 'my-release-milvus-standalone-6d5f7b9c8-x2x4q',
    __meta_kubernetes_service_label_app_kubernetes_io_instance: 'my-release',
    __meta_kubernetes_service_label_app_kubernetes_io_name: 'milvus',
    __meta_kubernetes_service_name: 'my-release-milvus',
    __metrics_path__: '/metrics',
    __scheme__: 'http',
    __scrape_interval__: '30s',
    __scrape_timeout__: '10s',
    job: POOL,
  }
}

function active(ip: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    discoveredLabels: discovered(ip),
    labels: {
      container: 'standalone',
      endpoint: 'metrics',
      instance: `${ip}:9091`,
      job: 'my-release-milvus',
      namespace: 'milvus',
      pod: 'my-release-milvus-standalone-6d5f7b9c8-x2x4q',
      service: 'my-release-milvus',
    },
    scrapePool: POOL,
    scrapeUrl: `http://${ip}:9091/metrics`,
    globalUrl: `http://${ip}:9091/metrics`,
    lastError: '',
    lastScrape: SCRAPED_AT,
    lastScrapeDuration: 0.004227,
    health: 'up',
    scrapeInterval: '30s',
    scrapeTimeout: '10s',
    ...over,
  }
}

const NEVER = { health: 'unknown', lastScrape: '0001-01-01T00:00:00Z', lastScrapeDuration: 0 }
const REFUSED = 'Get "http://10.244.0.12:9091/metrics": dial tcp 10.244.0.12:9091: connect: connection refused'

function answer(activeTargets: unknown[], dropped: unknown[] = [], counts: Record<string, number> | null = { [POOL]: 0 }) {
  const data: Record<string, unknown> = { activeTargets, droppedTargets: dropped }
  if (counts) data.droppedTargetCounts = { 'serviceMonitor/monitoring/node-exporter/0': 0, ...counts }
  return { status: 'success', data }
}

function upAnswer(samples: { instance: string; value: string; job?: string }[]) {
  return {
    status: 'success',
    data: {
      resultType: 'vector',
      result: samples.map((s) => ({
        metric: { __name__: 'up', instance: s.instance, job: s.job ?? 'my-release-milvus', namespace: 'milvus' },
        value: [SCRAPED_MS / 1000 + 1, s.value],
      })),
    },
  }
}

// ---------------------------------------------------------------------------------------------

describe('scrapePoolFor', () => {
  it.each<[string, string, number | undefined, string]>([
    ['milvus', 'my-release-milvus', undefined, 'serviceMonitor/milvus/my-release-milvus/0'],
    ['milvus', 'my-release-milvus', 0, 'serviceMonitor/milvus/my-release-milvus/0'],
    ['vector-db', 'mv', 2, 'serviceMonitor/vector-db/mv/2'],
  ])('%s/%s endpoint %s -> %s', (ns, name, index, want) => {
    expect(scrapePoolFor(ns, name, index)).toBe(want)
  })
  it("a PodMonitor's pool (Milvus Operator creates one)", () =>
    expect(scrapePoolFor('milvus', 'my-milvus', 0, 'PodMonitor')).toBe('podMonitor/milvus/my-milvus/0'))
})

describe('paths', () => {
  it('asks for active and dropped targets of the pool, encoded', () => {
    expect(targetsPath(POOL)).toBe('/api/v1/targets?state=any&scrapePool=serviceMonitor%2Fmilvus%2Fmy-release-milvus-standalone%2F0')
    expect(queryPath('up{job="a b"}')).toBe('/api/v1/query?query=up%7Bjob%3D%22a%20b%22%7D')
  })
})

describe('serviceProxyRequest', () => {
  it("asks the Service it is given, passing path, signal and timeout; prometheusRequest asks the stack's Service under its route prefix", async () => {
    const calls: unknown[] = []
    const kube = {
      serviceProxyGet: async (ref: ServiceRef, path: string, opts: unknown) => {
        calls.push([ref, path, opts])
        return { status: 'success' }
      },
    }
    const signal = new AbortController().signal
    expect(await prometheusRequest(kube, KUBE_PROMETHEUS_STACK)(targetsPath(POOL), signal)).toEqual({ status: 'success' })
    const other = { namespace: 'obs', name: 'prom', port: 9090 }
    await serviceProxyRequest(kube, other, { timeoutMs: 1234 })('/api/v1/scrape_pools', signal)
    expect(calls).toEqual([
      [{ namespace: 'monitoring', name: 'prometheus-k8s', port: 'web' }, targetsPath(POOL), { signal }],
      [other, '/api/v1/scrape_pools', { signal, timeoutMs: 1234 }],
    ])
    calls.length = 0
    const kps = {
      ...KUBE_PROMETHEUS_STACK,
      service: { namespace: 'kps', name: 'kps-prometheus', port: 'http-web', portNumber: 9090, pathPrefix: '/prom' },
    }
    await prometheusRequest(kube, kps)('/api/v1/rules', signal)
    expect(calls).toEqual([[{ namespace: 'kps', name: 'kps-prometheus', port: 'http-web' }, '/prom/api/v1/rules', { signal }]])
  })
})

describe('parseDuration', () => {
  it.each<[string, number | undefined]>([
    ['30s', 30_000],
    ['1m', 60_000],
    ['1m30s', 90_000],
    ['500ms', 500],
    ['1h', 3_600_000],
    ['', undefined],
    ['0s', undefined],
    ['30', undefined],
    ['s', undefined],
    ['1.5s', undefined],
  ])('%j -> %j', (s, want) => {
    expect(parseDuration(s)).toBe(want)
  })
})

describe('interpretTargets', () => {
  it.each<[string, unknown, VerdictState, RegExp]>([
    [
      'no pool of that name',
      answer([], [], {}),
      'pool-missing',
      /^scrape pool ".*standalone\/0" not loaded yet — .*serviceMonitorSelector/,
    ],
    [
      'pool loaded, nothing discovered',
      answer([]),
      'no-targets',
      /^no targets discovered — .*RBAC.*"milvus".*prometheus-rbac input.*RoleBinding to ServiceAccount monitoring\/prometheus-k8s/,
    ],
    [
      'discovered endpoints all relabelled away',
      answer([], [{ discoveredLabels: discovered('10.244.0.12', 19530, 'milvus'), scrapePool: POOL }], { [POOL]: 1 }),
      'no-targets',
      /^no targets discovered — Prometheus found 1 endpoint .* dropped them all \(service my-release-milvus 10\.244\.0\.12:19530 port "milvus"\)\. .*endpoints\[\]\.port/,
    ],
    [
      'dropped targets counted but not listed (keep_dropped_targets)',
      answer([], [], { [POOL]: 4 }),
      'no-targets',
      /found 4 endpoints .* dropped them all\. /,
    ],
    [
      'first scrape not done yet',
      answer([active('10.244.0.12', NEVER)]),
      'pending',
      /^waiting for the first scrape — 1 target discovered, not scraped yet: http:\/\/10\.244\.0\.12:9091\/metrics$/,
    ],
    [
      'connection refused',
      answer([active('10.244.0.12', { health: 'down', lastError: REFUSED })]),
      'down',
      /^target down — http:\/\/10\.244\.0\.12:9091\/metrics: Get .* connection refused$/,
    ],
    [
      'one of two down',
      answer([
        active('10.244.0.12'),
        active('10.244.0.13', { health: 'down', lastError: 'server returned HTTP status 503 Service Unavailable' }),
      ]),
      'down',
      /^1 of 2 targets down — http:\/\/10\.244\.0\.13:9091\/metrics: server returned HTTP status 503/,
    ],
    [
      'down beats pending',
      answer([active('10.244.0.12', NEVER), active('10.244.0.13', { health: 'down' })]),
      'down',
      /1 of 2 targets down — .*: no error given/,
    ],
    ['all up', answer([active('10.244.0.12'), active('10.244.0.13')]), 'up', /^2 targets up$/],
    [
      'an error answer',
      { status: 'error', errorType: 'bad_data', error: 'invalid parameter' },
      'unreachable',
      /— bad_data: invalid parameter/,
    ],
    ['not Prometheus at all', '<html>bad gateway</html>', 'unreachable', /not a Prometheus API answer/],
  ])('%s -> %s', (_, body, state, message) => {
    const v = interpretTargets(body, CTX)
    expect(v.state).toBe(state)
    expect(v.message).toMatch(message)
  })

  it('reduces each active target to a TargetState', () => {
    const v = interpretTargets(answer([active('10.244.0.12', { health: 'down', lastError: REFUSED })]), CTX)
    expect(v.targets).toEqual<TargetState[]>([
      {
        scrapePool: POOL,
        scrapeUrl: 'http://10.244.0.12:9091/metrics',
        health: 'down',
        lastError: REFUSED,
        lastScrape: SCRAPED_AT,
        labels: expect.objectContaining({
          instance: '10.244.0.12:9091',
          job: 'my-release-milvus',
          namespace: 'milvus',
        }),
      },
    ])
  })

  it('ignores other pools when an older Prometheus ignores the scrapePool parameter', () => {
    const other = active('10.244.0.99', { scrapePool: 'serviceMonitor/monitoring/node-exporter/0', health: 'down' })
    const v = interpretTargets(answer([other, active('10.244.0.12')]), CTX)
    expect(v.state).toBe('up')
    expect(v.targets.map((t) => t.scrapeUrl)).toEqual(['http://10.244.0.12:9091/metrics'])
  })

  it.each<[string, unknown, VerdictState]>([
    ['lists the pool', { status: 'success', data: { scrapePools: ['x', POOL] } }, 'no-targets'],
    ['does not list it', { status: 'success', data: { scrapePools: ['x'] } }, 'pool-missing'],
    ['is not known', undefined, 'pool-missing'],
  ])('without droppedTargetCounts, /api/v1/scrape_pools that %s -> %s', (_, scrapePools, state) => {
    const body = answer([], [], null)
    expect(needsScrapePools(body)).toBe(true)
    expect(interpretTargets(body, { ...CTX, scrapePools }).state).toBe(state)
  })

  it.each<[string, unknown, boolean]>([
    ['with droppedTargetCounts', answer([]), false],
    ['with active targets', answer([active('10.244.0.12')], [], null), false],
    ['an error answer', { status: 'error' }, false],
  ])('needs no scrape_pools %s', (_, body, want) => {
    expect(needsScrapePools(body)).toBe(want)
  })

  it.each<[string, unknown[], number | undefined, number | undefined]>([
    [
      'a down target: its last scrape + interval + duration',
      [active('10.244.0.12', { health: 'down' })],
      SCRAPED_MS + 30_000 + 4.227,
      30_000,
    ],
    [
      'the earliest of the targets not up',
      [
        active('10.244.0.12', { health: 'down' }),
        active('10.244.0.13', {
          health: 'down',
          lastScrape: '2026-11-24T15:38:01Z',
          lastScrapeDuration: 0,
          scrapeInterval: '10s',
        }),
        active('10.244.0.14', { lastScrape: '2026-11-24T15:37:00Z', scrapeInterval: '5s' }),
      ],
      Date.parse('2026-11-24T15:38:11Z'),
      5_000,
    ],
    ['never scraped: no due time', [active('10.244.0.12', NEVER)], undefined, 30_000],
    ['all up: nothing to wait for', [active('10.244.0.12')], undefined, 30_000],
  ])('next scrape: %s', (_, targets, nextScrapeAt, scrapeIntervalMs) => {
    const v = interpretTargets(answer(targets), CTX)
    if (nextScrapeAt === undefined) expect(v.nextScrapeAt).toBeUndefined()
    else expect(v.nextScrapeAt).toBeCloseTo(nextScrapeAt, 3)
    expect(v.scrapeIntervalMs).toBe(scrapeIntervalMs)
  })
})

describe('upQueries', () => {
  const t = (labels: Record<string, string>): TargetState => ({
    scrapePool: POOL,
    scrapeUrl: '',
    health: 'up',
    lastError: '',
    lastScrape: SCRAPED_AT,
    labels,
  })
  it.each<[string, TargetState[], string[]]>([
    [
      'one target',
      [t({ job: 'my-release-milvus', namespace: 'milvus', instance: 'a' })],
      ['up{job="my-release-milvus",namespace="milvus"}'],
    ],
    [
      'one query per job and namespace',
      [
        t({ job: 'my-release-milvus', namespace: 'milvus', instance: 'a' }),
        t({ job: 'my-release-milvus', namespace: 'milvus', instance: 'b' }),
        t({ job: 'my-release-milvus-datanode', namespace: 'milvus', instance: 'c' }),
      ],
      ['up{job="my-release-milvus",namespace="milvus"}', 'up{job="my-release-milvus-datanode",namespace="milvus"}'],
    ],
    ['no namespace label, quotes escaped', [t({ job: 'a"b\\c', instance: 'a' })], ['up{job="a\\"b\\\\c"}']],
  ])('%s', (_, targets, want) => {
    expect(upQueries(targets)).toEqual(want)
  })
})

describe('confirmUp', () => {
  const up = interpretTargets(answer([active('10.244.0.12'), active('10.244.0.13')]), CTX)
  it.each<[string, unknown[], VerdictState, RegExp]>([
    [
      'both read 1',
      [
        upAnswer([
          { instance: '10.244.0.12:9091', value: '1' },
          { instance: '10.244.0.13:9091', value: '1' },
        ]),
      ],
      'up',
      /^2 targets up — up\{job="my-release-milvus",namespace="milvus"\} == 1$/,
    ],
    [
      'one reads 0',
      [
        upAnswer([
          { instance: '10.244.0.12:9091', value: '1' },
          { instance: '10.244.0.13:9091', value: '0' },
        ]),
      ],
      'pending',
      /^waiting for up\{.*\} to read 1 — .*: 10\.244\.0\.13:9091 \(0\)$/,
    ],
    ['no samples yet', [upAnswer([])], 'pending', /10\.244\.0\.12:9091 \(no sample\), 10\.244\.0\.13:9091 \(no sample\)/],
    [
      'a sample of another job does not count',
      [
        upAnswer([
          { instance: '10.244.0.12:9091', value: '1', job: 'other' },
          { instance: '10.244.0.13:9091', value: '1' },
        ]),
      ],
      'pending',
      /10\.244\.0\.12:9091 \(no sample\)$/,
    ],
    ['an error answer', [{ status: 'error', errorType: 'timeout', error: 'query timed out' }], 'unreachable', /timeout: query timed out/],
  ])('%s -> %s', (_, bodies, state, message) => {
    const v = confirmUp(up, bodies)
    expect(v.state).toBe(state)
    expect(v.message).toMatch(message)
  })

  it('leaves other verdicts alone', () => {
    const down = interpretTargets(answer([active('10.244.0.12', { health: 'down' })]), CTX)
    expect(confirmUp(down, [upAnswer([])])).toBe(down)
  })
})

describe('nextPollDelay', () => {
  const NOW = 1_000_000
  const v = (state: VerdictState, extra: Partial<TargetVerdict> = {}): TargetVerdict => ({
    state,
    targets: [],
    message: '',
    ...extra,
  })
  it.each<[string, TargetVerdict, number, number]>([
    ['backoff starts at 250 ms', v('pool-missing'), 0, 250],
    ['and doubles', v('no-targets'), 1, 500],
    ['and doubles', v('unreachable'), 4, 4000],
    ['to 1 s at most while the first scrape may come any moment: the pool loading', v('pool-missing'), 6, 1000],
    ['no target discovered yet', v('no-targets'), 6, 1000],
    ['up to 5 s', v('unreachable'), 5, 5000],
    ['and stays there', v('unreachable'), 60, 5000],
    [
      'down: right after the next scrape is due',
      v('down', { nextScrapeAt: NOW + 12_000, scrapeIntervalMs: 30_000 }),
      3,
      12_000 + DEFAULT_PACING.marginMs,
    ],
    ['pending: the same', v('pending', { nextScrapeAt: NOW + 100, scrapeIntervalMs: 1000 }), 0, 100 + DEFAULT_PACING.marginMs],
    [
      'due far ahead (skewed clock): one interval at most',
      v('down', { nextScrapeAt: NOW + 600_000, scrapeIntervalMs: 30_000 }),
      0,
      30_000 + DEFAULT_PACING.marginMs,
    ],
    ['overdue: backoff', v('down', { nextScrapeAt: NOW - 5000, scrapeIntervalMs: 30_000 }), 2, 1000],
    ['never scraped: backoff', v('pending', { scrapeIntervalMs: 30_000 }), 2, 1000],
    ['never scraped: no more than 1 s apart', v('pending', { scrapeIntervalMs: 30_000 }), 5, 1000],
    [
      'never scraped, short interval: backoff no longer than an interval',
      v('pending', { scrapeIntervalMs: 500 }),
      4,
      500 + DEFAULT_PACING.marginMs,
    ],
  ])('%s', (_, verdict, attempt, want) => {
    expect(nextPollDelay(verdict, attempt, NOW)).toBe(want)
  })
})

// ---------------------------------------------------------------------------------------------
// waitForTargets with a scripted transport: every answer and every sleep is recorded.

interface Script {
  targets: (unknown | Error)[]
  query?: unknown
}

function scripted(script: Script) {
  const requests: string[] = []
  let i = 0
  const request = async (path: string, signal: AbortSignal) => {
    expect(signal).toBeInstanceOf(AbortSignal)
    requests.push(path)
    if (path.startsWith('/api/v1/query')) return script.query
    const next = script.targets[Math.min(i++, script.targets.length - 1)]
    if (next instanceof Error) throw next
    return next
  }
  return { request, requests }
}

function refused(): Error {
  const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9090'), { code: 'ECONNREFUSED' })
  return new TypeError('fetch failed', { cause })
}

describe('waitForTargets (scripted)', () => {
  const down = answer([active('10.244.0.12', { health: 'down', lastError: REFUSED })])
  const up = answer([active('10.244.0.12')])
  const upQuery = upAnswer([{ instance: '10.244.0.12:9091', value: '1' }])

  it('tells the story once per change and paces by backoff, then by the scrape schedule', async () => {
    const { request, requests } = scripted({
      targets: [refused(), refused(), answer([], [], {}), answer([], [], {}), answer([]), down, down, up],
      query: upQuery,
    })
    const progress: TargetVerdict[] = []
    const sleeps: number[] = []
    const now = SCRAPED_MS + 10_000
    const result = await waitForTargets({
      request,
      ...CTX,
      signal: new AbortController().signal,
      onProgress: (v) => progress.push(v),
      now: () => now,
      sleep: async (ms) => void sleeps.push(ms),
    })
    expect(progress.map((p) => p.state)).toEqual(['unreachable', 'pool-missing', 'no-targets', 'down', 'up'])
    expect(progress[0]?.message).toBe(
      'Prometheus not reachable — fetch failed: connect ECONNREFUSED 127.0.0.1:9090 (restarting or not ready yet; retrying)',
    )
    expect(progress[4]?.message).toMatch(/up\{job="my-release-milvus",namespace="milvus"\} == 1$/)
    // Backoff restarts at each change; down waits for the next scrape (20 s ahead + duration + margin).
    const dueIn = Math.ceil(20_000 + 4.227 + DEFAULT_PACING.marginMs)
    expect(sleeps).toEqual([250, 500, 250, 500, 250, dueIn, dueIn])
    expect(result.targets).toEqual([expect.objectContaining({ health: 'up', scrapeUrl: 'http://10.244.0.12:9091/metrics' })])
    expect(requests.at(-1)).toBe(queryPath('up{job="my-release-milvus",namespace="milvus"}'))
  })

  it('keeps polling while up{} lags the targets API', async () => {
    let answered = 0
    const progress: VerdictState[] = []
    await waitForTargets({
      request: async (path) => (path.startsWith('/api/v1/query') ? (answered++ ? upQuery : upAnswer([])) : up),
      ...CTX,
      signal: new AbortController().signal,
      onProgress: (v) => progress.push(v.state),
      sleep: async () => {},
    })
    expect(progress).toEqual(['pending', 'up'])
  })

  it('asks /api/v1/scrape_pools when the targets API cannot tell', async () => {
    const { request, requests } = scripted({ targets: [answer([], [], null), up], query: upQuery })
    const progress: TargetVerdict[] = []
    const signal = new AbortController().signal
    await waitForTargets({ request, ...CTX, signal, onProgress: (v) => progress.push(v), sleep: async () => {} })
    expect(requests).toContain('/api/v1/scrape_pools')
    expect(progress[0]?.state).toBe('pool-missing')
  })

  it('rejects with the last verdict when aborted between polls', async () => {
    const { request } = scripted({ targets: [answer([])] })
    const controller = new AbortController()
    let polls = 0
    const wait = waitForTargets({
      request,
      ...CTX,
      signal: controller.signal,
      onProgress: () => {},
      sleep: async (_ms, signal) => {
        if (++polls === 3) controller.abort(new Error('timeout'))
        signal.throwIfAborted()
      },
    })
    const err = await wait.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TargetWaitAborted)
    expect((err as TargetWaitAborted).lastVerdict.state).toBe('no-targets')
    expect((err as TargetWaitAborted).message).toMatch(/^stopped waiting for scrape pool ".*": no targets discovered — /)
  })

  it('rejects with the last verdict when aborted during a request, not with a transport error', async () => {
    const controller = new AbortController()
    let calls = 0
    const request = (_path: string, signal: AbortSignal) => {
      if (++calls === 1) return Promise.resolve(down)
      controller.abort()
      return Promise.reject(signal.reason)
    }
    const err = await waitForTargets({
      request,
      ...CTX,
      signal: controller.signal,
      onProgress: () => {},
      sleep: async () => {},
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TargetWaitAborted)
    expect((err as TargetWaitAborted).lastVerdict.state).toBe('down')
  })

  it('counts a request that hangs past its timeout as unreachable', async () => {
    const progress: TargetVerdict[] = []
    let calls = 0
    await waitForTargets({
      request: (path, signal) =>
        ++calls === 1
          ? new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
          : Promise.resolve(path.startsWith('/api/v1/query') ? upQuery : up),
      ...CTX,
      requestTimeoutMs: 10,
      signal: new AbortController().signal,
      onProgress: (v) => progress.push(v),
      sleep: async () => {},
    })
    expect(progress.map((p) => p.state)).toEqual(['unreachable', 'up'])
    expect(progress[0]?.message).toMatch(/no answer in time/)
  })

  it('needs somewhere to ask', async () => {
    const wait = waitForTargets({ ...CTX, signal: new AbortController().signal, onProgress: () => {} })
    await expect(wait).rejects.toThrow(/baseUrl or request/)
  })
})

// ---------------------------------------------------------------------------------------------
// The Milvus stand-in on its own.

/** Samples of an exposition: 'name{labels}' -> value, and each family's TYPE. */
function parseExposition(text: string) {
  const samples = new Map<string, number>()
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (type) types.set(type[1] ?? '', type[2] ?? '')
    const sample = /^([a-z_:][a-z0-9_:]*(?:\{.*\})?) (\S+)$/i.exec(line)
    if (sample) samples.set(sample[1] ?? '', Number(sample[2]))
  }
  return { samples, types }
}

describe('milvus stand-in', () => {
  it('exposes Milvus families whose counters and buckets only grow', () => {
    const early = parseExposition(renderMetrics(10, 'standalone', '1'))
    const late = parseExposition(renderMetrics(70, 'standalone', '1'))
    for (const family of ['milvus_proxy_req_count', 'milvus_rootcoord_collection_num', 'milvus_querynode_entity_num']) {
      expect(early.types.has(family), family).toBe(true)
    }
    expect(early.types.get('milvus_proxy_sq_latency')).toBe('histogram')
    expect(early.types.get('milvus_datanode_flushed_data_size')).toBe('counter')
    const counters = [...late.samples.keys()].filter((k) => {
      const name = k.replace(/\{.*/, '')
      return late.types.get(name) === 'counter' || /_(bucket|count|sum)$/.test(name)
    })
    expect(counters.length).toBeGreaterThan(10)
    for (const k of counters) expect(late.samples.get(k), k).toBeGreaterThanOrEqual(early.samples.get(k) ?? NaN)
    const req = 'milvus_proxy_req_count{node_id="1",function_name="Search",status="success",db_name="default",collection_name="demo"}'
    expect(late.samples.get(req)).toBeGreaterThan(early.samples.get(req) ?? Infinity)
    // Buckets are cumulative and end at the count.
    const search = 'node_id="1",query_type="search",db_name="default",collection_name="demo"'
    const buckets = [...late.samples].filter(([k]) => k.startsWith(`milvus_proxy_sq_latency_bucket{${search}`))
    expect(buckets).toHaveLength(19)
    expect(buckets.map(([, v]) => v)).toEqual(buckets.map(([, v]) => v).sort((a, b) => a - b))
    expect(buckets.at(-1)?.[1]).toBe(late.samples.get(`milvus_proxy_sq_latency_count{${search}}`))
  })

  it('answers /metrics and /healthz, names the role by the address it was reached on, and can fail scrapes', async () => {
    const s = await startMilvusStandin({ host: '127.0.0.1', port: 0, roles: { '127.0.0.1': 'querynode' } })
    try {
      const base = `http://127.0.0.1:${s.port}`
      const metrics = await fetch(`${base}/metrics`)
      expect(metrics.status).toBe(200)
      expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
      expect(await metrics.text()).toMatch(/^milvus_num_node\{node_id="\d+",role_name="querynode"\} 1$/m)
      const health = await fetch(`${base}/healthz`)
      expect([health.status, await health.text()]).toEqual([200, 'OK'])
      s.setUnhealthy(true)
      const failing = await fetch(`${base}/metrics`)
      expect(failing.status).toBe(503)
      await failing.text()
      // The pod stays Ready, so its target stays discovered while scrapes fail.
      expect((await fetch(`${base}/healthz`)).status).toBe(200)
      expect((await fetch(`${base}/nope`)).status).toBe(404)
    } finally {
      await s.close()
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Against a real Prometheus scraping the Milvus stand-in on loopback.

describe('waitForTargets against Prometheus', () => {
  const cleanups: (() => Promise<void>)[] = []

  beforeAll(async () => {
    await ensurePrometheus()
  })

  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((c) => c()))
    await stopAllPrometheus()
  })

  async function standin(opts: { port?: number; unhealthy?: boolean } = {}): Promise<MilvusStandin> {
    const s = await startMilvusStandin({ host: '127.0.0.1', port: opts.port ?? 0, unhealthy: opts.unhealthy ?? false })
    cleanups.push(() => s.close())
    return s
  }

  /** A config whose job stands in for the one the operator renders from the ServiceMonitor. */
  function config(job?: Record<string, unknown>): string {
    return stringify({
      global: { scrape_interval: '1s', scrape_timeout: '1s' },
      scrape_configs: job ? [{ job_name: POOL, ...job }] : [],
    })
  }
  const scraping = (port: number) => ({
    static_configs: [
      {
        targets: [`127.0.0.1:${port}`],
        labels: { namespace: 'milvus', service: 'my-release-milvus', pod: 'my-release-milvus-standalone-0' },
      },
    ],
  })

  /**
   * Runs the wait, recording progress. `on[state]` runs once, the first time that state is
   * reported; if it fails, the wait is aborted and done() rejects with its error.
   */
  function watch(prom: { url: string }, on: Partial<Record<VerdictState, () => unknown>> = {}, signal?: AbortSignal) {
    const progress: TargetVerdict[] = []
    const failed = new AbortController()
    let failure: unknown
    const reactions: Promise<void>[] = []
    const wait = waitForTargets({
      baseUrl: prom.url,
      ...CTX,
      // A bound so a regression fails with the last verdict rather than vitest's timeout.
      signal: AbortSignal.any([signal ?? AbortSignal.timeout(50_000), failed.signal]),
      onProgress: (v) => {
        progress.push(v)
        const react = on[v.state]
        if (!react) return
        delete on[v.state]
        const run = async () => {
          await react()
        }
        reactions.push(
          run().catch((err: unknown) => {
            failure = err
            failed.abort(err)
          }),
        )
      },
    })
    const done = async () => {
      const outcome = await wait.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      )
      await Promise.all(reactions)
      if (failure !== undefined) throw failure
      if ('error' in outcome) throw outcome.error
      return outcome.value
    }
    return { progress, done }
  }

  it('resolves with the target once Prometheus scrapes it, its samples queryable', { timeout: 60_000 }, async () => {
    const s = await standin()
    const prom = await startPrometheus(config(scraping(s.port)))
    const w = watch(prom)
    const { targets } = await w.done()
    expect(targets).toEqual([
      expect.objectContaining({
        scrapePool: POOL,
        scrapeUrl: `http://127.0.0.1:${s.port}/metrics`,
        health: 'up',
        lastError: '',
        labels: expect.objectContaining({ job: POOL, namespace: 'milvus', instance: `127.0.0.1:${s.port}` }),
      }),
    ])
    expect(w.progress.at(-1)?.message).toContain(`up{job="${POOL}",namespace="milvus"} == 1`)
    // The stand-in's exposition parsed: Milvus' families are in the TSDB with their labels.
    const buckets = queryPath('milvus_proxy_sq_latency_bucket{query_type="search",le="+Inf"}')
    const q = (await prometheusApi(prom, buckets)) as { data: { result: { metric: Record<string, string> }[] } }
    expect(q.data.result).toEqual([
      expect.objectContaining({ metric: expect.objectContaining({ node_id: expect.any(String), db_name: 'default' }) }),
    ])
  })

  it('waits while the scrape pool is missing, until the config is reloaded', { timeout: 60_000 }, async () => {
    const s = await standin()
    const prom = await startPrometheus(config())
    const w = watch(prom, { 'pool-missing': () => prom.reload(config(scraping(s.port))) })
    const { targets } = await w.done()
    expect(w.progress[0]?.state).toBe('pool-missing')
    expect(w.progress[0]?.message).toContain(`scrape pool "${POOL}" not loaded yet`)
    expect(w.progress.at(-1)?.state).toBe('up')
    expect(targets.map((t) => t.health)).toEqual(['up'])
  })

  it.each<[string, boolean, RegExp]>([
    ['answers 503', true, /server returned HTTP status 503 Service Unavailable/],
    ['is not listening', false, /connect: connection refused/],
  ])('reports the target down while Milvus %s, then up once fixed', { timeout: 60_000 }, async (_, listening, error) => {
    const port = await freePort()
    const s = listening ? await standin({ port, unhealthy: true }) : undefined
    const prom = await startPrometheus(config(scraping(port)))
    const fix = async () => {
      if (s) s.setUnhealthy(false)
      else await standin({ port })
    }
    const w = watch(prom, { down: fix })
    await w.done()
    const down = w.progress.find((v) => v.state === 'down')
    expect(down?.message).toMatch(new RegExp(`^target down — http://127\\.0\\.0\\.1:${port}/metrics: .*${error.source}`))
    expect(down?.targets[0]?.lastError).toMatch(error)
    expect(down?.targets[0]?.health).toBe('down')
    expect(w.progress.at(-1)?.state).toBe('up')
  })

  it('survives Prometheus restarting mid-wait', { timeout: 60_000 }, async () => {
    const s = await standin({ unhealthy: true })
    const prom = await startPrometheus(config(scraping(s.port)))
    const w = watch(prom, {
      down: () => prom.kill(),
      unreachable: async () => {
        await prom.start()
        s.setUnhealthy(false)
      },
    })
    const { targets } = await w.done()
    const states = w.progress.map((v) => v.state)
    expect(states.indexOf('unreachable')).toBeGreaterThan(states.indexOf('down'))
    expect(states.indexOf('down')).toBeGreaterThanOrEqual(0)
    // Usually ECONNREFUSED; a scrape in flight at the kill may read 'other side closed'.
    expect(w.progress.find((v) => v.state === 'unreachable')?.message).toMatch(/^Prometheus not reachable — fetch failed/)
    expect(states.at(-1)).toBe('up')
    expect(targets[0]?.health).toBe('up')
  })

  it('works through the API server service proxy alone, with the kubeconfig credentials', { timeout: 60_000 }, async () => {
    const s = await standin()
    const prom = await startPrometheus(config(scraping(s.port)))
    const api = await startFakeApiServer()
    const dir = await mkdtemp(join(tmpdir(), 'service-proxy-test-'))
    const savedKubeconfig = process.env.KUBECONFIG
    cleanups.push(async () => {
      if (savedKubeconfig === undefined) delete process.env.KUBECONFIG
      else process.env.KUBECONFIG = savedKubeconfig
      await api.close()
      await rm(dir, { recursive: true, force: true })
    })
    process.env.KUBECONFIG = await api.kubeconfig(dir)
    const kube = await Kube.load()
    const request = prometheusRequest(kube, KUBE_PROMETHEUS_STACK)

    // No such Service yet: the API server's 404 reads as a transient verdict that keeps its status.
    const before = await request(targetsPath(POOL), AbortSignal.timeout(5000)).catch((e: unknown) => e)
    expect(unreachableVerdict(before).message).toMatch(
      /^Prometheus not reachable — GET \/api\/v1\/namespaces\/monitoring\/services\/prometheus-k8s:web\/proxy\/api\/v1\/targets\?.*: HTTP 404: services "prometheus-k8s" not found/,
    )
    api.services.set('monitoring/prometheus-k8s:web', prom.url)

    const progress: TargetVerdict[] = []
    const { targets } = await waitForTargets({ request, ...CTX, signal: AbortSignal.timeout(50_000), onProgress: (v) => progress.push(v) })
    expect(targets.map((t) => [t.scrapeUrl, t.health])).toEqual([[`http://127.0.0.1:${s.port}/metrics`, 'up']])
    expect(progress.at(-1)?.message).toContain(`up{job="${POOL}",namespace="milvus"} == 1`)
    const prefix = '/api/v1/namespaces/monitoring/services/prometheus-k8s:web/proxy'
    const asked = api.requests.filter((r) => r.path.startsWith(prefix))
    expect(asked.every((r) => r.method === 'GET' && r.authorization === `Bearer ${FAKE_TOKEN}`)).toBe(true)
    expect(asked.map((r) => r.path)).toContain(prefix + targetsPath(POOL))
    expect(asked.map((r) => r.path)).toContain(prefix + queryPath(`up{job="${POOL}",namespace="milvus"}`))

    // Prometheus gone: the API server answers 503 and the verdict says so, status included.
    await prom.kill()
    const after = await request(targetsPath(POOL), AbortSignal.timeout(5000)).catch((e: unknown) => e)
    expect(unreachableVerdict(after).message).toMatch(
      /HTTP 503: error trying to reach service: dial tcp 127\.0\.0\.1:\d+: connect ECONNREFUSED/,
    )
  })

  it.each<[string, Record<string, unknown>, RegExp]>([
    [
      'nothing is discovered',
      { file_sd_configs: [{ files: ['/nonexistent/milvus-targets-*.json'] }] },
      /^no targets discovered — .*RBAC.*prometheus-rbac input/,
    ],
    [
      'relabelling drops every target',
      {
        static_configs: [{ targets: ['127.0.0.1:19530'], labels: { __meta_kubernetes_endpointslice_port_name: 'milvus' } }],
        relabel_configs: [{ source_labels: ['__meta_kubernetes_endpointslice_port_name'], regex: 'metrics', action: 'keep' }],
      },
      /^no targets discovered — Prometheus found 1 endpoint .*dropped them all \(127\.0\.0\.1:19530 port "milvus"\)/,
    ],
  ])('rejects on abort with the last verdict when %s', { timeout: 60_000 }, async (_, job, message) => {
    const prom = await startPrometheus(config(job))
    const controller = new AbortController()
    const w = watch(prom, { 'no-targets': () => controller.abort(new Error('timed out')) }, controller.signal)
    const err = await w.done().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TargetWaitAborted)
    const { lastVerdict } = err as TargetWaitAborted
    expect(lastVerdict.state).toBe('no-targets')
    expect(lastVerdict.message).toMatch(message)
    expect((err as Error).cause).toEqual(new Error('timed out'))
  })
})

describe('waitForTargetsOnReplicas', () => {
  const up = answer([active('10.244.0.12')])
  const down = answer([active('10.244.0.12', { health: 'down', lastError: REFUSED })])
  const upQuery = upAnswer([{ instance: '10.244.0.12:9091', value: '1' }])
  const pods = {
    items: [
      { metadata: { name: 'prometheus-k8s-0' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
      { metadata: { name: 'prometheus-k8s-1' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
      { metadata: { name: 'prometheus-k8s-2' }, status: { conditions: [{ type: 'Ready', status: 'False' }] } },
    ],
  }
  const prometheus = {
    namespace: 'monitoring',
    name: 'k8s',
    port: 9090,
    service: { namespace: 'monitoring', name: 'prometheus-k8s', port: 'web' },
  }

  it('waits until every Ready replica, each through its pod proxy, reports the target up', async () => {
    const asked: string[] = []
    let polls1 = 0
    const kube = {
      get: async <T>(path: string) => {
        expect(path).toBe(
          `/api/v1/namespaces/monitoring/pods?labelSelector=${encodeURIComponent('app.kubernetes.io/name=prometheus,prometheus=k8s')}`,
        )
        return pods as T
      },
      serviceProxyGet: async (ref: ServiceRef, path: string) => {
        asked.push(`${ref.resource}/${ref.name}:${ref.port}`)
        if (path.startsWith('/api/v1/query')) return upQuery
        // Replica 1 has not scraped the target yet for its first three polls.
        return ref.name === 'prometheus-k8s-1' && polls1++ < 3 ? down : up
      },
    }
    const progress: string[] = []
    const result = await waitForTargetsOnReplicas(kube, prometheus, {
      ...CTX,
      signal: new AbortController().signal,
      onProgress: (v) => progress.push(v.message),
      sleep: async () => {},
    })
    expect(result.targets[0]?.health).toBe('up')
    expect(new Set(asked)).toEqual(new Set(['pods/prometheus-k8s-0:9090', 'pods/prometheus-k8s-1:9090']))
    expect(progress.some((m) => m.startsWith('prometheus-k8s-1: '))).toBe(true)
    expect(polls1).toBeGreaterThanOrEqual(4)
  })

  it('a sharded Prometheus: the wait ends when every replica of the shard that scrapes the target reports it up; the other shard is not waited on', async () => {
    const sharded = {
      items: ['0-0', '0-1', '1-0', '1-1'].map((n) => ({
        metadata: { name: `prometheus-k8s-shard-${n}`, labels: { 'operator.prometheus.io/shard': n[0] } },
        status: { conditions: [{ type: 'Ready', status: 'True' }] },
      })),
    }
    const empty = answer([])
    const asked = new Set<string>()
    const kube = {
      get: async <T>() => sharded as T,
      serviceProxyGet: async (ref: ServiceRef, path: string) => {
        asked.add(ref.name)
        if (path.startsWith('/api/v1/query')) return upQuery
        // Shard 1 scrapes the target; shard 0 never sees it.
        return ref.name.includes('shard-1') ? up : empty
      },
    }
    const controller = new AbortController()
    const result = await waitForTargetsOnReplicas(kube, prometheus, {
      ...CTX,
      signal: controller.signal,
      onProgress: () => {},
      sleep: async () => new Promise((r) => setTimeout(r, 5)),
    })
    expect(result.targets[0]?.health).toBe('up')
    // What asks about the target later asks that shard, not one the Service picks.
    expect(result.shardPod).toBe('prometheus-k8s-shard-1-0')
    expect([...asked].sort()).toEqual([
      'prometheus-k8s-shard-0-0',
      'prometheus-k8s-shard-0-1',
      'prometheus-k8s-shard-1-0',
      'prometheus-k8s-shard-1-1',
    ])
    // Shard 0's polls stopped with the answer: nothing asks after it.
    asked.clear()
    await new Promise((r) => setTimeout(r, 50))
    expect(asked.size).toBe(0)
  })

  it.each([
    ['sample limit exceeded', /sample limit is exceeded[\s\S]*spec.sampleLimit or the Prometheus' spec.enforcedSampleLimit/],
    ['label_limit exceeded (metric: milvus_x, number of labels: 31, limit: 30)', /label limit is exceeded[\s\S]*spec.labelLimit/],
    ['body size limit exceeded', /body size limit is exceeded[\s\S]*spec.bodySizeLimit/],
  ])('a target down for %s ends the wait at the first answer, naming the limit and the field', async (lastError, message) => {
    const limited = answer([active('10.244.0.12', { health: 'down', lastError })])
    let polls = 0
    const kube = {
      get: async () => Promise.reject(new Error('forbidden')),
      serviceProxyGet: async () => (polls++, limited),
    }
    await expect(
      waitForTargetsOnReplicas(kube, prometheus, {
        ...CTX,
        signal: new AbortController().signal,
        onProgress: () => {},
        sleep: async () => {},
      }),
    ).rejects.toThrow(message)
    expect(polls).toBe(1)
  })

  it('without replicas to list, one wait through the Service', async () => {
    const asked: string[] = []
    const kube = {
      get: async () => Promise.reject(new Error('forbidden')),
      serviceProxyGet: async (ref: ServiceRef, path: string) => {
        asked.push(`${ref.resource ?? 'services'}/${ref.name}:${ref.port}`)
        return path.startsWith('/api/v1/query') ? upQuery : up
      },
    }
    await waitForTargetsOnReplicas(kube, prometheus, {
      ...CTX,
      signal: new AbortController().signal,
      onProgress: () => {},
      sleep: async () => {},
    })
    expect(new Set(asked)).toEqual(new Set(['services/prometheus-k8s:web']))
  })
})

describe('a proxy the API server refuses', () => {
  it('ends the wait at once, naming the rights the kubeconfig lacks', async () => {
    const request = () =>
      Promise.reject(
        new ApiError('GET', '/api/v1/namespaces/monitoring/pods/prometheus-k8s-0:9090/proxy/api/v1/targets', 403, {
          message: 'pods "prometheus-k8s-0" is forbidden',
        }),
      )
    await expect(
      waitForTargets({ request, ...CTX, signal: new AbortController().signal, onProgress: () => {}, sleep: async () => {} }),
    ).rejects.toThrow(/refused to proxy to Prometheus \(HTTP 403\).*needs get on pods\/proxy and services\/proxy/)
  })
})
