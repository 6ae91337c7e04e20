// Bun imports these as text (`with { type: "text" }`) and embeds them in the compiled binary.
declare module "*.cql" {
  const text: string;
  export default text;
}
declare module "*.avsc" {
  const schema: object;
  export default schema;
}
