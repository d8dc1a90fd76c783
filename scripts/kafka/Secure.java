// Creates the SCRAM users and the ACLs of the broker's SASL_SSL listener, through the
// plaintext loopback listener (whose anonymous principal is the lab's super user, see
// server.properties.template). Idempotent: users are upserted, ACLs created if missing.
//
//   java -cp '<cache>/libs/*' scripts/kafka/Secure.java BOOTSTRAP SECRETS_DIR ACL_FILE
//
// SECRETS_DIR holds one file per user, NAME.password (the password, one line): each becomes
// SCRAM-SHA-512 and SCRAM-SHA-256 credentials of User:NAME. ACL_FILE has one ACL per line:
//   PRINCIPAL RESOURCE_TYPE PATTERN_TYPE RESOURCE_NAME OPERATION[,OPERATION...]
// e.g. `User:roamwatch-agent topic literal roamwatch.events WRITE,DESCRIBE` ('#' comments).
// Every ACL allows, from any host; anything not allowed is denied
// (allow.everyone.if.no.acl.found=false).

import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialAlteration;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class Secure {
  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: Secure.java BOOTSTRAP SECRETS_DIR ACL_FILE");
      System.exit(2);
    }
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
    props.put(AdminClientConfig.CLIENT_ID_CONFIG, "roamwatch-secure-setup");

    // One request per mechanism: a request may alter each user only once.
    List<UserScramCredentialAlteration> users512 = new ArrayList<>();
    List<UserScramCredentialAlteration> users256 = new ArrayList<>();
    List<String> names = new ArrayList<>();
    try (DirectoryStream<Path> files = Files.newDirectoryStream(Path.of(args[1]), "*.password")) {
      for (Path f : files) {
        String name = f.getFileName().toString().replaceFirst("\\.password$", "");
        String password = Files.readString(f, StandardCharsets.UTF_8).strip();
        if (password.isEmpty()) throw new IllegalArgumentException(f + " is empty");
        users512.add(new UserScramCredentialUpsertion(name, new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), password));
        users256.add(new UserScramCredentialUpsertion(name, new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), password));
        names.add(name);
      }
    }

    List<AclBinding> acls = new ArrayList<>();
    int lineNo = 0;
    for (String raw : Files.readAllLines(Path.of(args[2]), StandardCharsets.UTF_8)) {
      lineNo++;
      String line = raw.replaceFirst("#.*", "").strip();
      if (line.isEmpty()) continue;
      String[] f = line.split("\\s+");
      if (f.length != 5) throw new IllegalArgumentException(args[2] + ":" + lineNo + ": expected 5 fields, got: " + raw);
      ResourcePattern pattern = new ResourcePattern(
          ResourceType.fromString(f[1].toUpperCase(Locale.ROOT)), f[3], PatternType.fromString(f[2].toUpperCase(Locale.ROOT)));
      for (String op : f[4].split(",")) {
        AclOperation operation = AclOperation.fromString(op.toUpperCase(Locale.ROOT));
        if (operation == AclOperation.UNKNOWN || pattern.resourceType() == ResourceType.UNKNOWN || pattern.patternType() == PatternType.UNKNOWN) {
          throw new IllegalArgumentException(args[2] + ":" + lineNo + ": unknown resource type, pattern type or operation: " + raw);
        }
        acls.add(new AclBinding(pattern, new AccessControlEntry(f[0], "*", operation, AclPermissionType.ALLOW)));
      }
    }

    try (Admin admin = Admin.create(props)) {
      if (!users512.isEmpty()) {
        admin.alterUserScramCredentials(users512).all().get(30, TimeUnit.SECONDS);
        admin.alterUserScramCredentials(users256).all().get(30, TimeUnit.SECONDS);
      }
      admin.createAcls(acls).all().get(30, TimeUnit.SECONDS);
    }
    System.out.println("kafka secured: SCRAM users " + names + ", " + acls.size() + " ACL entries");
  }
}
