/**
 * The operating-system user running a command, for audit lines. A uid with no
 * passwd entry (a container, or install.sh acting for a user it just created
 * in an image's tree) is named by number rather than failing the command.
 */
import { userInfo } from 'node:os';

export function osUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? 'unknown'}`;
  }
}
