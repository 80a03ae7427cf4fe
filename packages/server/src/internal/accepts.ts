/**
 * A fast acceptance check compiled from a schema's AST, for the events of an ingest batch: it
 * answers `true` only for a value the schema's decoder would return unchanged (every field of the
 * right type, every refinement passed, no property the schema does not declare). Anything else,
 * an invalid value or one with extra properties, answers `false`, and the caller decodes it with
 * the schema (for its stripped output or its error message). A schema with a node it does not
 * know (a transformation, a declaration, a suspended type, a record keyed by other than any
 * string) compiles to none.
 */
import { Option, SchemaAST as AST } from "effect"

/** Whether a value is certainly valid. */
export type Accepts = (value: unknown) => boolean

const noOptions: AST.ParseOptions = {}
const hasOwn = Object.prototype.hasOwnProperty

/**
 * The check of a type literal: a plain object whose declared properties are valid, and whose
 * other keys are none, or for a record (`{ [key: string]: A }`) each hold a valid `A`.
 */
const typeLiteral = (ast: AST.TypeLiteral): Accepts | undefined => {
  if (ast.indexSignatures.length > 1) return undefined
  const index = ast.indexSignatures[0]
  if (index !== undefined && index.parameter._tag !== "StringKeyword") return undefined
  const other = index === undefined ? () => false : compile(index.type)
  if (other === undefined) return undefined
  const properties: Array<{ readonly name: string; readonly optional: boolean; readonly accepts: Accepts }> = []
  for (const property of ast.propertySignatures) {
    const accepts = compile(property.type)
    if (accepts === undefined || typeof property.name !== "string") return undefined
    properties.push({ name: property.name, optional: property.isOptional, accepts })
  }
  const declared = new Set(properties.map((property) => property.name))
  return (value) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return false
    let present = 0
    for (const { accepts, name, optional } of properties) {
      if (!hasOwn.call(value, name)) {
        if (optional) continue
        return false
      }
      present++
      if (!accepts((value as Record<string, unknown>)[name])) return false
    }
    if (index === undefined && present === declared.size) return Object.keys(value).length === present
    for (const key of Object.keys(value)) {
      // the decoder's output would not keep an own `__proto__`: left to it
      if (key === "__proto__" || (!declared.has(key) && !other((value as Record<string, unknown>)[key]))) return false
    }
    return true
  }
}

/**
 * The check of `ast`, or none when it holds a node this check does not handle.
 */
export const compile = (ast: AST.AST): Accepts | undefined => {
  switch (ast._tag) {
    case "StringKeyword":
      return (value) => typeof value === "string"
    case "NumberKeyword":
      return (value) => typeof value === "number"
    case "BooleanKeyword":
      return (value) => typeof value === "boolean"
    case "UndefinedKeyword":
      return (value) => value === undefined
    case "UnknownKeyword":
    case "AnyKeyword":
      return () => true
    case "Literal": {
      const literal = ast.literal
      return (value) => value === literal
    }
    case "Union": {
      const members: Array<Accepts> = []
      for (const member of ast.types) {
        const accepts = compile(member)
        if (accepts === undefined) return undefined
        members.push(accepts)
      }
      return (value) => {
        for (const accepts of members) if (accepts(value)) return true
        return false
      }
    }
    case "Refinement": {
      const from = compile(ast.from)
      if (from === undefined) return undefined
      return (value) => from(value) && Option.isNone(ast.filter(value, noOptions, ast))
    }
    case "TupleType": {
      // fixed elements (none optional), then at most one rest type
      if (ast.rest.length > 1 || ast.elements.some((element) => element.isOptional)) return undefined
      const elements: Array<Accepts> = []
      for (const element of ast.elements) {
        const accepts = compile(element.type)
        if (accepts === undefined) return undefined
        elements.push(accepts)
      }
      const rest = ast.rest.length === 1 ? compile(ast.rest[0]!.type) : () => false
      if (rest === undefined) return undefined
      const fixed = elements.length
      return (value) => {
        if (!Array.isArray(value) || value.length < fixed) return false
        for (let i = 0; i < fixed; i++) if (!elements[i]!(value[i])) return false
        for (let i = fixed; i < value.length; i++) if (!rest(value[i])) return false
        return true
      }
    }
    case "TypeLiteral":
      return typeLiteral(ast)
    default:
      return undefined
  }
}
