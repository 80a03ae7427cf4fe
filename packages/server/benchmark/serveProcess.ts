/**
 * `multirun serve` in a child process, for the benchmarks that measure the server as users run it.
 */
import { type ChildProcess, spawn } from "node:child_process"

/**
 * Starts `node bin serve --port 0 …args` and resolves with its URL once it listens; its request
 * log (one line per request) is read and dropped.
 */
export const startServer = (
  bin: string,
  args: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv
): Promise<{ url: string; child: ChildProcess }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, "serve", "--port", "0", ...args], {
      stdio: ["ignore", "pipe", "inherit"],
      env
    })
    let out = ""
    child.stdout!.on("data", (chunk) => {
      out += chunk
      const found = /listening on (http:\/\/\S+)/.exec(out)
      if (found) {
        child.stdout!.removeAllListeners("data")
        child.stdout!.resume()
        resolve({ url: found[1]!, child })
      }
    })
    child.once("exit", (code) => reject(new Error(`the server exited with ${code}`)))
  })

/** Stops a server started by {@link startServer} (SIGINT: it drains) and resolves once it exited. */
export const stopServer = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    child.removeAllListeners("exit")
    child.once("exit", () => resolve())
    child.kill("SIGINT")
  })
