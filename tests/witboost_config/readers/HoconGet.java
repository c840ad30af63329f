// Reads HOCON files the way the Witboost Governance Platform does: Lightbend (Typesafe) Config,
// parsed and resolved (substitutions from the file and the environment).
//
//   java -cp typesafe-config.jar HoconGet.java FILE PATH            the value at PATH as JSON; null when absent
//   java -cp typesafe-config.jar HoconGet.java --boolean FILE PATH  getBoolean(PATH): true, false or null
//   java -cp typesafe-config.jar HoconGet.java --dump PATH FILE...  per file, one JSON line:
//                                     {"flag": getBoolean(PATH) or null, "config": everything}
//                                     or {"error": Lightbend's message}
// The first two exit 1 with Lightbend's message when the file cannot be read or the value is not
// a boolean.
import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigRenderOptions;
import com.typesafe.config.ConfigSyntax;
import com.typesafe.config.ConfigValueFactory;
import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

public class HoconGet {
    static final ConfigRenderOptions JSON = ConfigRenderOptions.concise();

    // Always HOCON, whatever the file's extension; a missing file is an error, not empty.
    static Config read(String file) {
        ConfigParseOptions options =
            ConfigParseOptions.defaults().setSyntax(ConfigSyntax.CONF).setAllowMissing(false);
        return ConfigFactory.parseFile(new File(file), options).resolve();
    }

    static void usage() {
        System.err.println("usage: HoconGet.java [--boolean] FILE PATH | --dump PATH FILE...");
        System.exit(2);
    }

    public static void main(String[] argv) {
        List<String> args = new ArrayList<>(Arrays.asList(argv));
        if (!args.isEmpty() && args.get(0).equals("--dump")) {
            if (args.size() < 3) usage();
            String path = args.get(1);
            for (String file : args.subList(2, args.size())) {
                String line;
                try {
                    Config config = read(file);
                    String flag = config.hasPath(path) ? String.valueOf(config.getBoolean(path)) : "null";
                    line = "{\"flag\":" + flag + ",\"config\":" + config.root().render(JSON) + "}";
                } catch (ConfigException e) {
                    line = "{\"error\":" + ConfigValueFactory.fromAnyRef(e.getMessage()).render(JSON) + "}";
                }
                System.out.println(line);
            }
            return;
        }
        boolean asBoolean = !args.isEmpty() && args.get(0).equals("--boolean");
        if (asBoolean) args.remove(0);
        if (args.size() != 2) usage();
        String file = args.get(0);
        String path = args.get(1);
        try {
            Config config = read(file);
            if (!config.hasPath(path)) {
                System.out.println("null");
            } else if (asBoolean) {
                System.out.println(config.getBoolean(path));
            } else {
                System.out.println(config.getValue(path).render(JSON));
            }
        } catch (ConfigException e) {
            System.err.println("HoconGet: " + file + ": " + e.getMessage());
            System.exit(1);
        }
    }
}
