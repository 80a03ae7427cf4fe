/**
 * @multirun/server: the multirun HTTP API over the sql store, API keys, batched ingest, the run
 * viewer and the `multirun` command line.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as ApiKeys from "./ApiKeys.js"
/** @since 0.1.0 */
export * as Authorization from "./Authorization.js"
/** @since 0.1.0 */
export * as Cli from "./Cli.js"
/** @since 0.1.0 */
export * as Database from "./Database.js"
/** @since 0.2.0 */
export * as Docs from "./Docs.js"
/** @since 0.2.0 */
export * as ExportCli from "./ExportCli.js"
/** @since 0.1.0 */
export * as Handlers from "./Handlers.js"
/** @since 0.2.0 */
export * as Ingest from "./Ingest.js"
/** @since 0.1.0 */
export * as Limits from "./Limits.js"
/** @since 0.2.0 */
export * as Migrations from "./Migrations.js"
/** @since 0.2.0 */
export * as Local from "./Local.js"
/** @since 0.3.0 */
export * as OutboxCli from "./OutboxCli.js"
/** @since 0.2.0 */
export * as RequestLog from "./RequestLog.js"
/** @since 0.2.0 */
export * as RetentionCli from "./RetentionCli.js"
/** @since 0.2.0 */
export * as RetentionJob from "./RetentionJob.js"
/** @since 0.2.0 */
export * as RunsCli from "./RunsCli.js"
/** @since 0.3.0 */
export * as RunsDiffCli from "./RunsDiffCli.js"
/** @since 0.3.0 */
export * as RunCompare from "./RunCompare.js"
/** @since 0.2.0 */
export * as RunSource from "./RunSource.js"
/** @since 0.2.0 */
export * as RunTree from "./RunTree.js"
/** @since 0.1.0 */
export * as Server from "./Server.js"
/** @since 0.1.0 */
export * as Store from "./Store.js"
/** @since 0.1.0 */
export * as Viewer from "./Viewer.js"
/** @since 0.2.0 */
export * as Views from "./Views.js"

export { serve } from "./Server.js"
