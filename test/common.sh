#-------------------------------------------------------------------------
#
# common.sh
#	  Shell functions shared by test/run.sh and bench/run.sh (sourced, not
#	  run): installing missing Debian packages, and free TCP ports for the
#	  throwaway clusters.
#
#-------------------------------------------------------------------------

# install_missing PACKAGE...: apt-get install those not installed yet
# (apt-get update runs only then)
install_missing()
{
	local missing=()
	local p

	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	if [ ${#missing[@]} -eq 0 ]; then
		echo "all packages present"
		return 0
	fi
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q &&
		apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

# Set FREE_PORT to a TCP port nobody listens on, different from the ones
# chosen before (call it in the main shell, not in $(...)).
USED_PORTS=" "
FREE_PORT=
free_port()
{
	local port

	for _ in $(seq 1 50); do
		port=$(perl -MIO::Socket::INET -e '
			my $s = IO::Socket::INET->new(Listen => 1, ReuseAddr => 0,
				LocalAddr => "127.0.0.1", LocalPort => 0) or die "$!\n";
			print $s->sockport, "\n";') || continue
		case $USED_PORTS in
			*" $port "*) continue ;;
		esac
		USED_PORTS="$USED_PORTS$port "
		FREE_PORT=$port
		return 0
	done
	return 1
}
