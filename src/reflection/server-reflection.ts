/**
 * gRPC server reflection (grpc.reflection.v1, and v1alpha beside it for older tools), so that
 * `buf curl`, grpcurl and Postman can list the services and call them without the .proto files.
 * Generic: it answers from the descriptors of whatever services the router serves, read when a
 * question comes (reflection included), never from a hand-kept list. Questions about files and
 * symbols are answered with the file's FileDescriptorProto and those of the files it imports,
 * each file once per stream, as other servers do.
 */
import {
  toBinary,
  type DescEnum,
  type DescExtension,
  type DescFile,
  type DescMessage,
  type DescService,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import { ServerReflection as ReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** Adds reflection over the router's own services to other routes: `withReflection(routes)`. */
export function withReflection(routes: (router: ConnectRouter) => void): (router: ConnectRouter) => void {
  return (router) => {
    routes(router);
    const catalog = () => catalogOf([...new Set(router.handlers.map((h) => h.service))]);
    router.service(ReflectionV1, { serverReflectionInfo: (questions) => answerAll(questions, catalog) });
    router.service(ReflectionV1alpha, { serverReflectionInfo: (questions) => answerAll(questions, catalog) });
  };
}

/** What reflection knows: service names, and the file of every file name, symbol and extension. */
interface Catalog {
  services: string[];
  files: Map<string, DescFile>;
  symbols: Map<string, DescFile>;
  /** Extensions by the message they extend, then by number. */
  extensions: Map<string, Map<number, DescFile>>;
}

function catalogOf(services: DescService[]): Catalog {
  const catalog: Catalog = {
    services: services.map((s) => s.typeName).sort(),
    files: new Map(),
    symbols: new Map(),
    extensions: new Map(),
  };
  const addExtension = (ext: DescExtension, file: DescFile) => {
    catalog.symbols.set(ext.typeName, file);
    const byNumber = catalog.extensions.get(ext.extendee.typeName) ?? new Map<number, DescFile>();
    byNumber.set(ext.number, file);
    catalog.extensions.set(ext.extendee.typeName, byNumber);
  };
  const addMessage = (message: DescMessage, file: DescFile) => {
    catalog.symbols.set(message.typeName, file);
    for (const nested of message.nestedMessages) addMessage(nested, file);
    for (const e of message.nestedEnums) addEnum(e, file);
    for (const ext of message.nestedExtensions) addExtension(ext, file);
  };
  const addEnum = (e: DescEnum, file: DescFile) => catalog.symbols.set(e.typeName, file);
  const addFile = (file: DescFile) => {
    if (catalog.files.has(file.proto.name)) return;
    catalog.files.set(file.proto.name, file);
    for (const dependency of file.dependencies) addFile(dependency);
    for (const message of file.messages) addMessage(message, file);
    for (const e of file.enums) addEnum(e, file);
    for (const ext of file.extensions) addExtension(ext, file);
    for (const service of file.services) {
      catalog.symbols.set(service.typeName, file);
      for (const method of service.methods) catalog.symbols.set(`${service.typeName}.${method.name}`, file);
    }
  };
  for (const service of services) addFile(service.file);
  return catalog;
}

/** A question, as both versions of the protocol shape it. */
interface Question {
  host: string;
  messageRequest:
    | { case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"; value: string }
    | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
}

async function* answerAll<Q extends Question>(questions: AsyncIterable<Q>, catalog: () => Catalog) {
  const sent = new Set<string>(); // files already sent on this stream
  for await (const question of questions) {
    yield { validHost: question.host, originalRequest: question, messageResponse: answer(question, catalog(), sent) };
  }
}

function answer(question: Question, catalog: Catalog, sent: Set<string>) {
  const notFound = (what: string) => ({
    case: "errorResponse" as const,
    value: { errorCode: Code.NotFound, errorMessage: `${what} is not known to this server` },
  });
  const request = question.messageRequest;
  switch (request.case) {
    case "listServices":
      return { case: "listServicesResponse" as const, value: { service: catalog.services.map((name) => ({ name })) } };
    case "fileByFilename": {
      const file = catalog.files.get(request.value);
      return file ? descriptors(file, sent) : notFound(`file ${request.value}`);
    }
    case "fileContainingSymbol": {
      const file = catalog.symbols.get(request.value.replace(/^\./, ""));
      return file ? descriptors(file, sent) : notFound(`symbol ${request.value}`);
    }
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = request.value;
      const file = catalog.extensions.get(containingType)?.get(extensionNumber);
      return file ? descriptors(file, sent) : notFound(`extension ${extensionNumber} of ${containingType}`);
    }
    case "allExtensionNumbersOfType": {
      const type = request.value.replace(/^\./, "");
      if (!catalog.symbols.has(type)) return notFound(`type ${request.value}`);
      const numbers = [...(catalog.extensions.get(type)?.keys() ?? [])].sort((a, b) => a - b);
      return { case: "allExtensionNumbersResponse" as const, value: { baseTypeName: type, extensionNumber: numbers } };
    }
    default:
      return {
        case: "errorResponse" as const,
        value: { errorCode: Code.InvalidArgument, errorMessage: "the request asks nothing (no message_request set)" },
      };
  }
}

/** `file`, then the files it imports (transitively) that this stream has not had yet. */
function descriptors(file: DescFile, sent: Set<string>) {
  const out: Uint8Array[] = [];
  const add = (f: DescFile, always: boolean) => {
    if (sent.has(f.proto.name) && !always) return;
    sent.add(f.proto.name);
    out.push(toBinary(FileDescriptorProtoSchema, f.proto));
    for (const dependency of f.dependencies) add(dependency, false);
  };
  add(file, true);
  return { case: "fileDescriptorResponse" as const, value: { fileDescriptorProto: out } };
}
