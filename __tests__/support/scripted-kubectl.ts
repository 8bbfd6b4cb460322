// A kubectl in-process for unit tests: each command's answer is crafted by the test from its
// arguments, and every command is recorded. `run` has Kubectl.run's shape (allowFailure honoured).
import { CommandError, type ExecResult, type RunOptions } from '../../src/cluster/kubectl.ts'

export interface Answer {
  stdout?: string
  stderr?: string
  exitCode?: number
}

export interface ScriptedKubectl {
  run(args: string[], opts?: RunOptions): Promise<ExecResult>
  /** Every command run, in order. */
  calls: string[][]
}

/** `answer` returns undefined for a command the test did not expect: kubectl's "unknown command" then. */
export function scriptedKubectl(answer: (args: string[]) => Answer | undefined): ScriptedKubectl {
  const calls: string[][] = []
  return {
    calls,
    run(args, opts = {}) {
      calls.push(args)
      const a = answer(args) ?? { stderr: `fake kubectl: no answer for ${args.join(' ')}\n`, exitCode: 1 }
      const result = { stdout: a.stdout ?? '', stderr: a.stderr ?? '', exitCode: a.exitCode ?? 0 }
      if (result.exitCode !== 0 && !opts.allowFailure)
        return Promise.reject(new CommandError(`kubectl ${args.slice(0, 3).join(' ')}`, result))
      return Promise.resolve(result)
    },
  }
}

/** The value of `--flag` or `-f` in `args`. */
export function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}

interface ContainerSpec {
  name: string
  init?: boolean
  restarts?: number
  /** running (default), waiting with a reason, or terminated with a reason and exit code */
  state?: { running: true } | { waiting: string } | { terminated: string; exitCode: number }
  lastTerminated?: { reason: string; exitCode: number }
  ready?: boolean
}

/** A Pod as `kubectl get pods -o json` lists it. */
export function podObject(
  namespace: string,
  name: string,
  o: {
    phase?: string
    ready?: boolean
    containers: ContainerSpec[]
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>
  },
): object {
  const status = (c: ContainerSpec) => {
    const s = c.state ?? { running: true }
    return {
      name: c.name,
      restartCount: c.restarts ?? 0,
      ready: c.ready ?? true,
      state:
        'running' in s
          ? { running: { startedAt: '2025-11-24T15:28:00Z' } }
          : 'waiting' in s
            ? { waiting: { reason: s.waiting } }
            : { terminated: { reason: s.terminated, exitCode: s.exitCode } },
      ...(c.lastTerminated ? { lastState: { terminated: c.lastTerminated } } : {}),
    }
  }
  const init = o.containers.filter((c) => c.init)
  const main = o.containers.filter((c) => !c.init)
  return {
    metadata: { name, namespace },
    spec: {
      ...(init.length ? { initContainers: init.map((c) => ({ name: c.name })) } : {}),
      containers: main.map((c) => ({ name: c.name })),
    },
    status: {
      phase: o.phase ?? 'Running',
      conditions: o.conditions ?? [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
      ...(init.length ? { initContainerStatuses: init.map(status) } : {}),
      containerStatuses: main.map(status),
    },
  }
}

export const podList = (...items: object[]): string => JSON.stringify({ apiVersion: 'v1', kind: 'List', items })
