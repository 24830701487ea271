// Converts an sfdx source project to a metadata package with Salesforce's own library, offline
// (what `sf project convert source` does). Prints {"types": {type: [members]}, "problems": [...]}.
// Usage: node salesforce_project.mjs PROJECT_DIR OUT_DIR
import path from "node:path";
import fs from "node:fs";
import { ComponentSet, MetadataConverter } from "@salesforce/source-deploy-retrieve";

const [projectDir, outDir] = process.argv.slice(2);
const problems = [];
const types = {};
try {
  const project = JSON.parse(fs.readFileSync(path.join(projectDir, "sfdx-project.json"), "utf8"));
  const paths = project.packageDirectories.map((d) => path.join(projectDir, d.path));
  const set = ComponentSet.fromSource(paths);
  set.sourceApiVersion = project.sourceApiVersion;
  for (const c of set.getSourceComponents()) {
    (types[c.type.name] ||= []).push(c.fullName);
    for (const child of c.getChildren()) (types[child.type.name] ||= []).push(child.fullName);
  }
  const result = await new MetadataConverter().convert(set, "metadata", { type: "directory", outputDirectory: outDir, genUniqueDir: false });
  if (!fs.existsSync(path.join(outDir, "package.xml"))) problems.push("no package.xml was written");
  if (!result.converted || result.converted.length === 0) problems.push("nothing was converted");
} catch (e) {
  problems.push(String(e.message || e));
}
console.log(JSON.stringify({ types, problems }));
