/** Telling multirun's own failures from the errors of user code, by class identity, never by tag. */
import { BackendError, CheckpointError, ReplayError, RunError, SerializationError } from "@multirun/core/Errors"

/** The failures multirun adds to a tracked call: recording, replay, checkpoint, a run that ended. */
export type RecordingError = SerializationError | ReplayError | BackendError | CheckpointError | RunError

/**
 * Whether `error` is one of multirun's own failures (an instance of a core error class); a user's
 * error that happens to be tagged `BackendError` is not.
 */
export const isRecordingError = (error: unknown): error is RecordingError =>
  error instanceof SerializationError || error instanceof ReplayError || error instanceof BackendError ||
  error instanceof CheckpointError || error instanceof RunError
