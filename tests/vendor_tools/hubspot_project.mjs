// Checks a HubSpot developer project with HubSpot's own parsing library, as `hs project upload`
// does before it sends the project (minus the schema step, which needs a HubSpot account), and
// builds each UI extension's bundle. Prints {"components": {uid: type}, "bundles": {...}, "problems": [...]}.
// Usage: node hubspot_project.mjs PROJECT_DIR OUT_DIR
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { Components } from "@hubspot/project-parsing-lib/constants";
import { LATEST_SUPPORTED_PLATFORM_VERSION, getProjectMetadata, isKnownPlatformVersion, parseProjectConfig }
  from "@hubspot/project-parsing-lib/projects";
import { mapToUserFacingType } from "@hubspot/project-parsing-lib/transform";
import { translate } from "@hubspot/project-parsing-lib/translate";
import { validateUid } from "@hubspot/project-parsing-lib/uid";

const [projectDir, outDir] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const problems = [];
const components = {};
const bundles = {};
try {
  const config = parseProjectConfig(projectDir);
  if (!isKnownPlatformVersion(config.platformVersion)) problems.push(`unknown platformVersion ${config.platformVersion}`);
  if (config.platformVersion !== LATEST_SUPPORTED_PLATFORM_VERSION)
    problems.push(`platformVersion ${config.platformVersion} is not the latest supported (${LATEST_SUPPORTED_PLATFORM_VERSION})`);
  const srcDir = path.join(projectDir, config.srcDir);
  const meta = await getProjectMetadata(srcDir);
  for (const [type, m] of Object.entries(meta.components))
    if (m.count > m.maxCount) problems.push(`${m.count} ${type} components where HubSpot allows ${m.maxCount}`);
  const { intermediateRepresentation, skippedHsMetaFiles } = await translate(
    { projectSourceDir: srcDir, platformVersion: config.platformVersion }, { skipValidation: true });
  if (skippedHsMetaFiles.length) problems.push(`skipped: ${skippedHsMetaFiles.join(", ")}`);
  for (const [uid, node] of Object.entries(intermediateRepresentation.intermediateNodesIndexedByUid)) {
    const uidProblem = validateUid(uid);
    if (uidProblem) problems.push(`${uid}: ${uidProblem}`);
    const type = mapToUserFacingType(node.componentType);
    if (!Components[type]) { problems.push(`${uid}: unknown component type ${node.componentType}`); continue; }
    components[uid] = type;
    const expected = path.join(srcDir, Components[type].parentComponent ? path.join(Components[type].parentComponent, Components[type].dir) : Components[type].dir);
    if (path.dirname(path.resolve(srcDir, node.metaFilePath)) !== expected)
      problems.push(`${uid}: ${node.metaFilePath} is not in ${Components[type].dir}/`);
    const entry = node.config && node.config.entrypoint;
    if (entry) {
      const result = await esbuild.build({
        entryPoints: [path.join(srcDir, entry)], bundle: true, write: true, format: "esm", jsx: "automatic",
        outfile: path.join(outDir, `${uid}.js`), nodePaths: [path.join(here, "node_modules")], logLevel: "silent",
        loader: { ".jsx": "jsx", ".tsx": "tsx" },
      }).catch((e) => ({ errors: e.errors || [{ text: String(e) }] }));
      if (result.errors.length) problems.push(`${uid}: bundle: ${result.errors.map((e) => e.text).join("; ")}`);
      else bundles[uid] = `${uid}.js`;
    }
  }
} catch (e) {
  problems.push(String(e.message || e));
}
console.log(JSON.stringify({ components, bundles, problems }));
