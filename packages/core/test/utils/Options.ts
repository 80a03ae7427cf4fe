/**
 * Assertions on `Option` values. `assert.deepStrictEqual` cannot be trusted with them: it passes
 * for `Option.none()` against `Option.some(1)` (the trap `OptionTrap.test.ts` shows and guards).
 *
 * @since 0.3.0
 */
import { assert } from "@effect/vitest"
import { Option } from "effect"

/**
 * Asserts that `option` is `Some` and that its value deeply equals `expected`.
 *
 * @since 0.3.0
 */
export const assertSome = <A>(option: Option.Option<A>, expected: A, message?: string): void => {
  assert.isTrue(Option.isOption(option), message ?? "expected an Option")
  if (Option.isNone(option)) return assert.fail(message ?? `expected Some(${JSON.stringify(expected)}), got None`)
  assert.deepStrictEqual(option.value, expected, message)
}

/**
 * Asserts that `option` is `None`.
 *
 * @since 0.3.0
 */
export const assertNone = <A>(option: Option.Option<A>, message?: string): void => {
  assert.isTrue(Option.isOption(option), message ?? "expected an Option")
  assert.isTrue(Option.isNone(option), message ?? `expected None, got ${String(option)}`)
}
