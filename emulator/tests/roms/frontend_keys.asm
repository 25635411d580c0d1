; Window test: mode 3 with a font of the ROM's own in plane 2 and its own
; text colours; echoes keys read from the 8042 (port 0x60, scan code set 1
; as the controller's translation delivers it by default) on row 2, and
; exits through port 0xF4 (status 0x21) on Enter.
;
; 8086 code throughout (the typematic test runs it on an 8086).
;
; Font and colours: load_font and text_dac in vga.inc.
; Keys: letters, digits and space echo as themselves; Right arrow (E0 4D)
; echoes '>', Left arrow (E0 4B) '<', and keypad 6 (4D without E0) '6'.

%include "vga.inc"

EXT equ 0x500                   ; the last byte was the E0 prefix

rom_start
    mov si, banner
    mov ah, 0x1E
    call test_screen
    xor ax, ax
    mov es, ax
    mov byte [es:EXT], 0
    mov ax, 0xB800
    mov es, ax
    mov di, 2 * 80 * 2          ; row 2, column 0
.poll:
    in al, 0x64
    test al, 1
    jz .poll
    in al, 0x60
    cmp al, 0xE0
    jne .code
    push es
    xor bx, bx
    mov es, bx
    mov byte [es:EXT], 1
    pop es
    jmp .poll
.code:
    push es
    xor bx, bx
    mov es, bx
    mov bl, [es:EXT]
    mov byte [es:EXT], 0
    pop es
    test al, 0x80               ; break codes are ignored
    jnz .poll
    test bl, bl
    jnz .extended
    cmp al, 0x1C                ; Enter
    je .done
    cmp al, set1_ascii_end - set1_ascii
    jae .poll
    mov bl, al
    xor bh, bh
    mov al, [set1_ascii + bx]
    test al, al
    jz .poll
    jmp .echo
.extended:
    mov bl, '>'
    cmp al, 0x4D
    je .ext_echo
    mov bl, '<'
    cmp al, 0x4B
    jne .poll
.ext_echo:
    mov al, bl
.echo:
    mov ah, 0x0F
    stosw
    jmp .poll
.done:
    exit_with 0x10

banner: db "TYPE:", 0

; Scan code set 1 make code -> character (0: ignored).
set1_ascii:
    db 0, 0, "1234567890", 0, 0, 0, 0       ; 00-0F
    db "qwertyuiop", 0, 0, 0, 0, "as"       ; 10-1F
    db "dfghjkl", 0, 0, 0, 0, 0, "zxcv"     ; 20-2F
    db "bnm", 0, 0, 0, 0, 0, 0, " ", 0, 0, 0, 0, 0, 0      ; 30-3F
    db 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "6"          ; 40-4D
set1_ascii_end:

rom_end
