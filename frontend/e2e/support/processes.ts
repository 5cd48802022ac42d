// The processes the suite starts (the API server, the fake OpenAI-compatible server, small
// Python scripts): free ports on 127.0.0.1, readiness by polling, stop by process id.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface Started {
  name: string;
  child: ChildProcess;
  log: string;
}

/** A long-running process, its output in `log`; its own process group, so stop() ends it. */
export function start(
  name: string,
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; log: string },
): Started {
  const out = createWriteStream(options.log);
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  return { name, child, log: options.log };
}

/** TERM by pid (the process and the group it leads), KILL after 5 s. */
export async function stop(started: Started): Promise<void> {
  const { child } = started;
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, name);
    } catch {
      try {
        process.kill(child.pid!, name);
      } catch {
        /* already gone */
      }
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Polls `url` until it answers 2xx; fails early if the process exits. */
export async function waitForHttp(url: string, started: Started, seconds = 60): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (started.child.exitCode !== null) {
      throw new Error(`${started.name} exited (${started.child.exitCode}); see ${started.log}`);
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${started.name}: no answer from ${url} within ${seconds} s; see ${started.log}`);
}

/** A short command that must succeed: its stdout. Asynchronous, so the event loop goes on
 * (a blocked loop misses the server closing idle keep-alive connections, and the next fetch
 * on one of them fails with "other side closed"). */
export function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, env: options.env ?? process.env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${command} ${args.join(' ')} failed (${error.code}):\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}
