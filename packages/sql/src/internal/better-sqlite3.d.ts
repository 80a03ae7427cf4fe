/** The part of better-sqlite3's API that `SqliteOutbox` uses (the package ships no types). */
declare module "better-sqlite3" {
  interface Statement {
    run(...params: ReadonlyArray<unknown>): unknown
    all(...params: ReadonlyArray<unknown>): Array<unknown>
  }
  class Database {
    constructor(filename: string, options?: { readonly timeout?: number | undefined })
    pragma(source: string): unknown
    exec(source: string): unknown
    prepare(source: string): Statement
    transaction<F extends (...args: Array<any>) => void>(fn: F): F
    close(): void
  }
  export default Database
}
