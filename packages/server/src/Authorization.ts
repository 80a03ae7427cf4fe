/**
 * The server side of `Api.Authorization`: `Authorization: Bearer KEY` resolves to the key's project.
 *
 * @since 0.1.0
 */
import { Api } from "@multirun/core"
import { Effect, Layer, Option, Redacted } from "effect"
import { Store } from "./Store.js"

/**
 * Answers 401 for a missing or unknown key and provides `Api.CurrentProject` otherwise. A store
 * failure while checking the key is a defect (500), never a 401.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<Api.Authorization, never, Store> = Layer.effect(
  Api.Authorization,
  Effect.map(Store, (store) =>
    Api.Authorization.of({
      bearer: (token) => {
        const key = Redacted.value(token).trim()
        if (key === "") {
          return Effect.fail(
            new Api.Unauthorized({ message: "missing API key: send the header `Authorization: Bearer KEY`" })
          )
        }
        return store.verifyKey(key).pipe(
          Effect.orDie,
          Effect.flatMap(Option.match({
            onNone: () =>
              Effect.fail(
                new Api.Unauthorized({
                  message: "unknown API key: create one with `multirun keys create --project NAME`"
                })
              ),
            onSome: Effect.succeed
          }))
        )
      }
    }))
)
