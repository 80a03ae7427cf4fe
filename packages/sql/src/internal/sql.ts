/** SQL helpers shared by the modules of the store. */

/** The message of an error and of every cause under it: a `SqlError` hides the driver's message. */
export const describeCause = (cause: unknown): string => {
  if (!(cause instanceof Error)) return String(cause)
  const inner = (cause as { readonly cause?: unknown }).cause
  return inner === undefined ? cause.message : `${cause.message}: ${describeCause(inner)}`
}

/** Whether a failed statement violated a unique constraint (SQLite or PostgreSQL). */
export const isUniqueViolation = (error: unknown): boolean => {
  const code = (error as { readonly cause?: { readonly code?: unknown } } | null)?.cause?.code
  return code === "23505" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY"
}
